/*
 * tickets.c - TLS 1.3 session ticket keys: the master makes them at start, keeps them
 * across reloads (a reload does not end the sessions clients hold), gives them to each
 * worker when it is ready and to every worker at each rotation. They live in the
 * master's memory and in the workers', never in a file (ticket_keys.h).
 */
#include <unistd.h>

#include "control.h"
#include "err.h"
#include "log.h"
#include "master.h"
#include "proc.h"

/* Whether a generation's workers issue tickets: a TLS 1.3 listener and tickets on. */
static bool
issues_tickets(const struct kw_config *cfg)
{
	if (!cfg->tls13.session_tickets)
		return false;
	for (size_t i = 0; i < cfg->n_listeners; i++)
		if (cfg->listeners[i].tls == KW_TLS_TLS13)
			return true;
	return false;
}

int
tickets_init(struct master *m, char *err, size_t err_len)
{
	m->tickets.has_previous = false;
	if (kw_ticket_key_generate(&m->tickets.current) != 0) {
		snprintf(err, err_len, "tickets_init: no randomness for the session ticket key");
		return KW_ERR_INTERNAL;
	}
	m->tickets_rotate_at_ms = 0;
	return 0;
}

void
tickets_send(struct master *m, struct child *w)
{
	if (w->role != CHILD_WORKER || w->pid <= 0 || w->ctl < 0 || !issues_tickets(w->gen->cfg))
		return;
	int fd = kw_ticket_keys_to_fd(&m->tickets);
	if (fd < 0) {
		kw_log_err("tickets_send: memfd for worker %u: %s", w->slot, kw_strerror(fd));
		return;
	}
	child_send(w, CTL_TICKET_KEYS, 0, &fd, 1);
	close(fd);
}

unsigned long long
tickets_rotate_due(struct master *m, unsigned long long now)
{
	const struct generation *cur = m->current;
	unsigned long long period = cur ? cur->cfg->tls13.ticket_rotation_ms : 0;

	if (period == 0)
		return 0;
	if (m->tickets_rotate_at_ms == 0)
		m->tickets_rotate_at_ms = now + period;
	if (now < m->tickets_rotate_at_ms)
		return m->tickets_rotate_at_ms;
	if (kw_ticket_keys_rotate(&m->tickets) != 0) {
		kw_log_err("tickets_rotate_due: no randomness: the ticket key is kept");
	} else {
		kw_log_info("session ticket key rotated (the previous one still decrypts)");
		for (struct generation *g = m->gens; g; g = g->next)
			for (size_t i = 0; i < g->n_workers; i++)
				if (g->workers[i].ready)
					tickets_send(m, &g->workers[i]);
	}
	m->tickets_rotate_at_ms = now + period;
	return m->tickets_rotate_at_ms;
}

void
tickets_wipe(struct master *m)
{
	kw_ticket_keys_wipe(&m->tickets);
}
