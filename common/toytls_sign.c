#include "toytls_sign.h"
