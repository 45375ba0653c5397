/*
 * ticket_keys.c - session ticket keys: made, rotated, wiped, passed in a memfd.
 *
 * The memfd holds one byte saying whether a previous key is there, then the current
 * key and the previous one (zeros when there is none): a fixed 161 bytes.
 */
#include "ticket_keys.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "err.h"

#define WIRE_LEN (1u + 2u * sizeof(struct kw_ticket_key))

int
kw_ticket_key_generate(struct kw_ticket_key *key)
{
	return RAND_priv_bytes((unsigned char *)key, sizeof(*key)) == 1 ? 0 : KW_ERR_INTERNAL;
}

int
kw_ticket_keys_rotate(struct kw_ticket_keys *keys)
{
	struct kw_ticket_key next;

	if (kw_ticket_key_generate(&next) != 0)
		return KW_ERR_INTERNAL;
	keys->previous = keys->current;
	keys->has_previous = true;
	keys->current = next;
	OPENSSL_cleanse(&next, sizeof(next));
	return 0;
}

void
kw_ticket_keys_wipe(struct kw_ticket_keys *keys)
{
	OPENSSL_cleanse(keys, sizeof(*keys));
}

int
kw_ticket_keys_to_fd(const struct kw_ticket_keys *keys)
{
	uint8_t wire[WIRE_LEN] = {0};
	int fd = memfd_create("keyward-ticket-keys", MFD_CLOEXEC);
	int err = 0;

	if (fd < 0)
		return -errno;
	wire[0] = keys->has_previous;
	memcpy(wire + 1, &keys->current, sizeof(keys->current));
	if (keys->has_previous)
		memcpy(wire + 1 + sizeof(keys->current), &keys->previous, sizeof(keys->previous));
	if (pwrite(fd, wire, sizeof(wire), 0) != (ssize_t)sizeof(wire))
		err = errno ? -errno : -EIO;
	OPENSSL_cleanse(wire, sizeof(wire));
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int
kw_ticket_keys_from_fd(int fd, struct kw_ticket_keys *keys)
{
	uint8_t wire[WIRE_LEN + 1];
	ssize_t n = pread(fd, wire, sizeof(wire), 0);
	int rc = KW_ERR_UNEXPECTED_MESSAGE;

	if (n == (ssize_t)WIRE_LEN && wire[0] <= 1) {
		keys->has_previous = wire[0];
		memcpy(&keys->current, wire + 1, sizeof(keys->current));
		memcpy(&keys->previous, wire + 1 + sizeof(keys->current), sizeof(keys->previous));
		rc = 0;
	}
	OPENSSL_cleanse(wire, sizeof(wire));
	if (n > 0) {
		memset(wire, 0, sizeof(wire));
		if (pwrite(fd, wire, (size_t)n, 0) != n)
			rc = rc ? rc : KW_ERR_INTERNAL;
	}
	return rc;
}
