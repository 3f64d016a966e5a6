#include "supervisor/cli.h"

int main(int argc, char** argv) { return swg::Main(argc, argv); }
