#include "toytls_aead.h"
