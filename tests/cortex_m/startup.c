/* startup.c — the least a Cortex-M4 needs to run tests/cortex_m/m4_main.c
 * under qemu-system-arm (-M mps2-an386): a vector table (initial stack
 * pointer, reset and fault handlers), .data copied and .bss zeroed, the FPU
 * switched on (hard-float fp32 models), and Arm semihosting for output and
 * exit: the debugger calls of the Arm semihosting specification, made with
 * `bkpt 0xab` (r0 = operation, r1 = argument), which QEMU serves when run
 * with -semihosting-config enable=on. Written by hand because the C
 * library's own start-up (newlib's crt0 + rdimon) assumes another memory
 * map; this file is the whole of it. */
#include <stdint.h>
#include "semihost.h"

extern uint32_t _data_load[], _data_start[], _data_end[], _bss_start[], _bss_end[], _stack_top[];
int main(void);

static int semihost(int op, const void *arg) {
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

void sh_write(const char *s) { semihost(0x04, s); } /* SYS_WRITE0 */

void sh_exit(int code) {
    /* SYS_EXIT: ADP_Stopped_ApplicationExit ends QEMU with status 0, any
     * other reason (here RunTimeErrorUnknown) with status 1 */
    semihost(0x18, (const void *)(uintptr_t)(code ? 0x20023 : 0x20026));
    for (;;) {
    }
}

void reset_handler(void) {
    uint32_t *s = _data_load, *d = _data_start;
    while (d < _data_end) *d++ = *s++;
    for (d = _bss_start; d < _bss_end;) *d++ = 0;
    /* CPACR: full access to coprocessors 10 and 11 (the FPU) */
    *(volatile uint32_t *)0xE000ED88 |= 0xFu << 20;
    __asm__ volatile("dsb\n\tisb");
    sh_exit(main());
}

static void fault_handler(void) {
    sh_write("fault: the model crashed the board\n");
    sh_exit(1);
}

__attribute__((section(".vectors"), used)) static void (*const vectors[16])(void) = {
    (void (*)(void))(uintptr_t)_stack_top, reset_handler, fault_handler, fault_handler, fault_handler,
    fault_handler, fault_handler, 0, 0, 0, 0, fault_handler, fault_handler, 0, fault_handler, fault_handler,
};
