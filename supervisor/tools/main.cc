#include "supervisor/tools/tools.h"

int main(int argc, char** argv) { return swg::tools::Main(argc, argv); }
