"""A minimal Debian 12 booted by systemd-nspawn, for the system suite.

The root file system is made once by debootstrap and cached outside the source tree
(KW_SYSTEM_CACHE, default /var/cache/keyward-test), under a name derived from its
package list, so that a changed list makes a new one. Each Container is a fresh copy
of it, booted with a network of its own (loopback only); commands run inside with
nsenter, and host programs can be run in its network with run_in_network(). stop() halts
the container, waits for it and removes the copy, whatever state it was left in.
"""

import ctypes
import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

SUITE = "bookworm"
APT_SOURCES = ("/etc/apt/sources.list", "/etc/apt/sources.list.d")
CACHE = os.environ.get("KW_SYSTEM_CACHE", "/var/cache/keyward-test")
# systemd as init (procps: ps and /bin/kill, which the unit's ExecReload runs); the
# run-time libraries of keyward's executables are added by runtime_packages().
BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus", "procps")
# nspawn's defaults are stricter than a host's systemd: its init may not raise resource
# limits, and its system-call allowlist leaves out memory locking and Landlock. The
# container gets what a host gives, so that the unit's own settings are what is tested.
NSPAWN_OPTIONS = ("--private-network", "--rlimit=RLIMIT_MEMLOCK=infinity", "--rlimit=RLIMIT_NOFILE=524288",
                  "--system-call-filter=@memlock landlock_create_ruleset landlock_add_rule "
                  "landlock_restrict_self")

DEBOOTSTRAP_TIMEOUT = 1200
BOOT_TIMEOUT = 120
HALT_TIMEOUT = 30
PR_SET_PDEATHSIG = 1


def unavailable():
    """Why containers cannot run here, or None."""
    if os.geteuid() != 0:
        return "needs root (systemd-nspawn boots the container)"
    for tool, package in (("systemd-nspawn", "systemd-container"), ("nsenter", "util-linux")):
        if shutil.which(tool) is None:
            return "%s is missing (apt-get install %s)" % (tool, package)
    # the root file system depends on the build's libraries: it may have to be made
    if shutil.which("debootstrap") is None:
        return "debootstrap is missing (apt-get install debootstrap)"
    if mirror() is None:
        return ("no apt source serves %s (%s); set KW_DEBIAN_MIRROR"
                % (SUITE, ", ".join(APT_SOURCES)))
    probe = subprocess.run(["unshare", "--mount", "--pid", "--uts", "--ipc", "--fork", "true"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if probe.returncode != 0:
        return "no namespaces for a container here: " + probe.stderr.strip()
    return None


def apt_sources(paths=None):
    """(uri, suites) of every "deb" source in the machine's apt configuration: the
    one-line format of sources.list and *.list files, and the deb822 format of *.sources
    files (paragraphs of Types, URIs, Suites, Enabled); paths: files or directories,
    default APT_SOURCES."""
    files = []
    for path in APT_SOURCES if paths is None else paths:
        if os.path.isdir(path):
            files += sorted(os.path.join(path, name) for name in os.listdir(path)
                            if name.endswith((".list", ".sources")))
        elif os.path.isfile(path):
            files.append(path)
    found = []
    for path in files:
        with open(path, errors="replace") as f:
            text = f.read()
        if path.endswith(".sources"):
            for para in re.split(r"\n\s*\n", text):
                fields, key = {}, None
                for line in para.splitlines():
                    if line.startswith("#") or not line.strip():
                        continue
                    if line[0].isspace() and key is not None:
                        fields[key] += " " + line.strip()
                        continue
                    key, _, value = line.partition(":")
                    key = key.strip().lower()
                    fields[key] = value.strip()
                if "deb" not in fields.get("types", "").split():
                    continue
                if fields.get("enabled", "yes").lower() == "no":
                    continue
                for uri in fields.get("uris", "").split():
                    found.append((uri, fields.get("suites", "").split()))
        else:
            for line in text.splitlines():
                words = re.sub(r"\[[^]]*\]", " ", line.split("#", 1)[0]).split()
                if len(words) >= 3 and words[0] == "deb":
                    found.append((words[1], [words[2]]))
    return found


def mirror(paths=None):
    """The Debian mirror debootstrap fetches SUITE from: KW_DEBIAN_MIRROR, else the first
    "deb" source of this machine's apt configuration that serves SUITE itself (not its
    -updates or -security suites), as apt itself would use it; None when there is none."""
    if os.environ.get("KW_DEBIAN_MIRROR"):
        return os.environ["KW_DEBIAN_MIRROR"]
    for uri, suites in apt_sources(paths):
        if SUITE in suites:
            return uri
    return None


def runtime_packages(executables):
    """The Debian packages that hold the shared libraries the executables load, as the
    host's ldd(1) resolves them and dpkg(1) names their owners: what the container must
    have for them to start, found rather than listed by hand."""
    paths = set()
    for exe in executables:
        res = subprocess.run(["ldd", exe], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True, check=True)
        paths.update(re.findall(r"=> (/\S+)", res.stdout))
    packages = set()
    for path in sorted(paths):
        # with merged /usr, dpkg knows a library under one of its two names
        other = path[4:] if path.startswith("/usr/") else "/usr" + path
        for name in (path, other):
            res = subprocess.run(["dpkg", "-S", name], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True)
            if res.returncode == 0:
                packages.add(res.stdout.split(":", 1)[0])
                break
        else:
            raise RuntimeError("no Debian package holds %s (needed by keyward)" % path)
    return sorted(packages)


def rootfs_path(packages):
    """Where the root file system with BASE_PACKAGES and packages is cached."""
    packages = sorted(set(BASE_PACKAGES) | set(packages))
    key = hashlib.sha256(("%s minbase %s" % (SUITE, " ".join(packages))).encode())
    return os.path.join(CACHE, "rootfs-" + key.hexdigest()[:16])


def rootfs(packages):
    """The cached root file system with BASE_PACKAGES and packages, made by debootstrap
    first if missing (under a lock, in a temporary directory renamed into place once
    complete)."""
    path = rootfs_path(packages)
    packages = sorted(set(BASE_PACKAGES) | set(packages))
    if os.path.isdir(path):
        return path
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if os.path.isdir(path):
            return path
        tmp = tempfile.mkdtemp(dir=CACHE, prefix=".%s-" % os.path.basename(path))
        try:
            make_rootfs(tmp, packages)
            os.rename(tmp, path)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return path


def make_rootfs(root, packages):
    os.chmod(root, 0o755)
    log = os.path.join(CACHE, "debootstrap.log")
    source = mirror()
    with open(log, "w") as out:
        res = subprocess.run(["debootstrap", "--variant=minbase",
                              "--include=" + ",".join(packages), SUITE, root, source],
                             stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                             timeout=DEBOOTSTRAP_TIMEOUT)
    if res.returncode != 0:
        with open(log) as f:
            tail = f.read()[-3000:]
        raise RuntimeError("debootstrap %s from %s failed (%d):\n%s"
                           % (SUITE, source, res.returncode, tail))
    for top in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for entry in os.scandir(os.path.join(root, top)):
            if entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)


def remove_stale_copies():
    """Removes the copies left by runs that were killed (their process is gone)."""
    for entry in os.scandir(CACHE):
        parts = entry.name.split("-")
        if len(parts) != 3 or parts[0] != "run" or not parts[1].isdigit():
            continue
        try:
            os.kill(int(parts[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(entry.path, ignore_errors=True)
        except PermissionError:
            pass


def _die_with_parent():
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _status(pid):
    """{field: value} of /proc/PID/status, or {} when it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except OSError:
        return {}


class Container:
    """A fresh copy of the root file system, to be booted once and stopped once."""

    def __init__(self, base):
        os.makedirs(CACHE, exist_ok=True)
        remove_stale_copies()
        self.dir = tempfile.mkdtemp(dir=CACHE, prefix="run-%d-" % os.getpid())
        self.root = os.path.join(self.dir, "root")
        self.name = "keyward-test-%d" % os.getpid()
        self.console = os.path.join(self.dir, "console.log")
        self.nspawn = None
        self.init_pid = None
        try:
            subprocess.run(["cp", "-a", "--reflink=auto", base, self.root], check=True)
        except BaseException:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise

    def path(self, inside):
        """The host's path of a path inside the container."""
        return os.path.join(self.root, inside.lstrip("/"))

    def boot(self):
        """Starts the container and waits until its systemd has finished starting up."""
        with open(self.console, "w") as console:
            self.nspawn = subprocess.Popen(
                ["systemd-nspawn", "-q", "-D", self.root, "-M", self.name, "-b",
                 "--register=no", "--keep-unit", "--console=pipe", *NSPAWN_OPTIONS],
                stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + BOOT_TIMEOUT
        while self.init_pid is None:
            self.init_pid = self._find_init()
            if self.init_pid is None:
                self._check_boot(deadline, "no systemd in the container")
                time.sleep(0.05)
        state = ""
        while state not in ("running", "degraded"):
            res = self.run("systemctl", "is-system-running", "--wait", check=False,
                           timeout=max(1, deadline - time.monotonic()))
            state = res.stdout.strip()
            if state not in ("running", "degraded"):
                self._check_boot(deadline, "system state %r" % state)
                time.sleep(0.1)
        return state

    def _find_init(self):
        """The container's systemd: pid 1 of its pid namespace, below systemd-nspawn."""
        nspawn = self.nspawn.pid
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            pid = int(entry)
            status = _status(pid)
            if status.get("Name") != "systemd" or status.get("NSpid", "").split()[-1:] != ["1"]:
                continue
            while pid > 1 and pid != nspawn:
                pid = int(_status(pid).get("PPid", "0"))
            if pid == nspawn:
                return int(entry)
        return None

    def _check_boot(self, deadline, what):
        if self.nspawn.poll() is not None:
            raise RuntimeError("systemd-nspawn exited (%d) while booting:\n%s"
                               % (self.nspawn.returncode, self.console_tail()))
        if time.monotonic() > deadline:
            raise RuntimeError("the container did not boot in %d s (%s):\n%s"
                               % (BOOT_TIMEOUT, what, self.console_tail()))

    def console_tail(self, size=4000):
        try:
            with open(self.console, errors="replace") as f:
                return f.read()[-size:]
        except OSError:
            return ""

    def run(self, *cmd, check=True, timeout=60, input=None):
        """Runs cmd inside the container (every namespace of its init), as root; returns
        the CompletedProcess with text stdout and stderr."""
        res = subprocess.run(["nsenter", "-t", str(self.init_pid), "-a", "--", *cmd],
                             input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, errors="replace", timeout=timeout,
                             stdin=None if input is not None else subprocess.DEVNULL)
        if check and res.returncode != 0:
            raise AssertionError("in the container, %s exited %d:\n%s%s"
                                 % (" ".join(cmd), res.returncode, res.stdout, res.stderr))
        return res

    def run_in_network(self, *cmd, timeout=60):
        """Runs a host program in the container's network namespace only (so that it
        reaches the container's 127.0.0.1); returns the CompletedProcess, bytes."""
        return subprocess.run(["nsenter", "-t", str(self.init_pid), "-n", "--", *cmd],
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout)

    def stop(self):
        """Halts the container (SIGTERM to systemd-nspawn asks its systemd to power off;
        a second SIGTERM, then SIGKILL to its init, if that takes too long), waits for
        systemd-nspawn and removes the copy."""
        try:
            if self.nspawn is not None and self.nspawn.poll() is None:
                for sig, wait in ((signal.SIGTERM, HALT_TIMEOUT), (signal.SIGTERM, 10)):
                    self.nspawn.send_signal(sig)
                    try:
                        self.nspawn.wait(timeout=wait)
                        break
                    except subprocess.TimeoutExpired:
                        continue
                else:
                    if self.init_pid is not None:
                        try:
                            os.kill(self.init_pid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                    self.nspawn.kill()
                    self.nspawn.wait()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)
