// `berth`: the command-line client of berthd. Everything lives in the berth_cli library.

#include "cli/cli.h"

int main(int argc, char** argv) { return berth::cli::Main(argc, argv, BERTH_DEFAULT_PYTHON); }
