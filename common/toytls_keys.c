#include "toytls_keys.h"
