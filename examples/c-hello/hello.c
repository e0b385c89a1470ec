/* The C example of kiln: built inside a (simulated) TEE by `kiln build examples/c-hello`. */
#include <stdio.h>

int main(void) {
    printf("hello from an attested build\n");
    return 0;
}
