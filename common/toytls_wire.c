#include "toytls_wire.h"
