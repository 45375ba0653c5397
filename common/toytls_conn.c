#include "toytls_conn.h"
