#include "static_file.h"
