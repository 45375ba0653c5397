# Sourced by tools/test and tools/run: installs the Debian packages keyward needs
# to build and test, when any is missing. Quiet when everything is there.

KW_PACKAGES="gcc binutils libc6-dev meson ninja-build pkg-config openssl libssl-dev libconfig-dev
libcriterion-dev libseccomp-dev libsystemd-dev python3 python3-cryptography procps passwd
systemd scdoc man-db groff-base logrotate curl wget gnutls-bin haproxy libnghttp2-dev
nghttp2-client python3-h2 python3-prometheus-client zlib1g-dev libbrotli-dev
python3-brotli"

kw_install_deps() {
	missing=""
	for pkg in $KW_PACKAGES "$@"; do
		status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
		case "$status" in
		*" installed") ;;
		*) missing="$missing $pkg" ;;
		esac
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "keyward: missing packages:$missing (run as root, or install them with apt-get)" >&2
		return 1
	fi
	echo "keyward: installing$missing" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null &&
		apt-get install -y -qq --no-install-recommends $missing >/dev/null ||
		{ echo "keyward: apt-get install failed for:$missing" >&2; return 1; }
}

# When running as root, makes the system users the default configuration names
# (workers run as "keyward", the signer as "keyward-signer"), if missing.
kw_ensure_users() {
	[ "$(id -u)" -eq 0 ] || return 0
	for user in keyward keyward-signer; do
		getent passwd "$user" >/dev/null && continue
		useradd --system --no-create-home --home-dir /nonexistent \
			--shell /usr/sbin/nologin "$user" ||
			{ echo "keyward: cannot create user $user" >&2; return 1; }
	done
}

# Makes the name localhost resolve when it does not (a minimal Debian root has no
# /etc/hosts): wget, which the TLS 1.3 tests use, cannot be pointed at an address.
# As root only; adds the two lines every Debian /etc/hosts has.
kw_ensure_localhost() {
	getent hosts localhost >/dev/null && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "keyward: the name localhost does not resolve (add it to /etc/hosts)" >&2
		return 0
	fi
	printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >>/etc/hosts ||
		{ echo "keyward: cannot add localhost to /etc/hosts" >&2; return 1; }
}
