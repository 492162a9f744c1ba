// Catch2 entry point for weir's unit tests.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
