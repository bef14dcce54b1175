// libFuzzer's entry for programs that keep their own main. SwiftPM gives
// every executable target a main of its own (it links with
// --defsym main=<Target>_main), so libFuzzer's main is never used: each
// fuzz target's top-level code hands control to the driver through this.
// Defined in libclang_rt.fuzzer, which -sanitize=fuzzer links.
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv,
                        int (*one_input)(const uint8_t *data, size_t size));
