#include "toytls_record.h"
