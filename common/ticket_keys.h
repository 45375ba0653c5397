/*
 * ticket_keys.h - TLS 1.3 session ticket keys, made by the master and handed to every
 * worker over the control channel (CTL_TICKET_KEYS), so that any worker of any
 * generation resumes a ticket any other one issued.
 *
 * The keys travel in a memfd made for one message: the master writes them and closes
 * its end once the message is sent; the worker reads them and overwrites the memfd with
 * zeros before closing it. They are never written to a file. The master makes a new
 * current key every tls13.ticket_rotation; the previous one still decrypts until the
 * next rotation, then it is wiped.
 */
#ifndef KW_TICKET_KEYS_H
#define KW_TICKET_KEYS_H

#include <stdbool.h>
#include <stdint.h>

/** One key: the name a ticket carries, an AES-256-CBC key and an HMAC-SHA256 key. */
struct kw_ticket_key {
	uint8_t name[16];
	uint8_t aes[32];
	uint8_t hmac[32];
};

/** The keys in use: current encrypts, current and previous (when has_previous) decrypt. */
struct kw_ticket_keys {
	struct kw_ticket_key current, previous;
	bool has_previous;
};

/** Makes a random key. Returns 0 or KW_ERR_INTERNAL (no randomness). */
int kw_ticket_key_generate(struct kw_ticket_key *key);

/**
 * Rotates: previous becomes current (the old previous is cleansed) and current a new
 * random key. Returns 0 or KW_ERR_INTERNAL (keys unchanged).
 */
int kw_ticket_keys_rotate(struct kw_ticket_keys *keys);

/** Cleanses keys. */
void kw_ticket_keys_wipe(struct kw_ticket_keys *keys);

/** A memfd holding keys, for one CTL_TICKET_KEYS message. Returns the fd or -errno. */
int kw_ticket_keys_to_fd(const struct kw_ticket_keys *keys);

/**
 * Reads keys from a memfd made by kw_ticket_keys_to_fd() and overwrites its contents
 * with zeros. Returns 0, or KW_ERR_UNEXPECTED_MESSAGE when the fd holds anything else.
 */
int kw_ticket_keys_from_fd(int fd, struct kw_ticket_keys *keys);

#endif
