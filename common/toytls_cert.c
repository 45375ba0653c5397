#include "toytls_cert.h"
