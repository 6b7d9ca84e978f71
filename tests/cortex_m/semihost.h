/* semihost.h — output and exit through Arm semihosting (startup.c). */
#ifndef DEEPC_SEMIHOST_H
#define DEEPC_SEMIHOST_H
void sh_write(const char *s);
void sh_exit(int code);
#endif
