/*
 * table.c - the transport classes a listener can speak. A new transport is one
 * more file in this folder and one more line here (and its listener setting in the
 * configuration).
 */
#include "transport.h"

extern const struct transport_class transport_plain;
extern const struct transport_class transport_toytls;
extern const struct transport_class transport_tls13;

const struct transport_class *const transport_classes[] = {
    &transport_toytls,
    &transport_tls13,
    &transport_plain,
    NULL,
};

const struct transport_class *
transport_class_for(const struct kw_listener *lc)
{
	for (const struct transport_class *const *c = transport_classes; *c != NULL; c++)
		if ((*c)->serves(lc))
			return *c;
	return NULL;
}
