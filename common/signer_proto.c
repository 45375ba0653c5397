#include "signer_proto.h"
