// test_harden_io.c — hostile file-system situations for the core I/O
// helpers and the IDX loader (issue 13): symlinks planted at the atomic
// writer's temporary name, outputs that are devices or FIFOs, stale
// temporary files left by killed writers, directories given as files, and
// tiny compressed files whose headers claim huge data sets.
#define _XOPEN_SOURCE 700
#include "deepc.h"
#include "core/core.h"
#include "harness.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *tpath(const char *name) {
    static char buf[8][1024];
    static int k;
    char *b = buf[k++ & 7];
    snprintf(b, 1024, "%s/%s", dc_test_tmpdir(), name);
    return b;
}

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        perror(path);
        exit(2);
    }
}

// The whole file as a string ("" when missing), in a static buffer.
static const char *read_text(const char *path) {
    static char buf[4096];
    buf[0] = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return buf;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static dc_status write_str(const char *path, const char *s, dc_error *err) {
    dc_buf part = {s, strlen(s)};
    return dc_write_atomic(path, &part, 1, err);
}

// ---------------------------------------------------------------------------
// Bug 2: a symlink planted at the temporary name must not be followed.

static void test_symlink_at_temp_name(void) {
    const char *victim = tpath("victim.txt");
    const char *out = tpath("out.bin");
    write_text(victim, "precious");
    // the names an attacker can predict: "<out>.tmp.<pid>" (the old writer's)
    char planted[1100];
    snprintf(planted, sizeof planted, "%s.tmp.%ld", out, (long)getpid());
    CHECK(symlink(victim, planted) == 0, "symlink: %s", strerror(errno));
    dc_error err = {{0}};
    dc_status st = write_str(out, "new contents", &err);
    CHECK(st == DC_OK, "write with a planted symlink: %s", err.msg);
    CHECK(!strcmp(read_text(victim), "precious"), "the symlink's target was overwritten: '%s'", read_text(victim));
    struct stat sb;
    CHECK(lstat(out, &sb) == 0 && S_ISREG(sb.st_mode), "output is not a regular file (a symlink?)");
    CHECK(!strcmp(read_text(out), "new contents"), "output holds '%s'", read_text(out));
    // the planted link itself is left alone (it is not ours to remove)
    CHECK(lstat(planted, &sb) == 0 && S_ISLNK(sb.st_mode), "planted symlink was touched");
    unlink(planted);
    // a second write replaces the first and leaves no temporary file
    CHECK(write_str(out, "second", &err) == DC_OK, "%s", err.msg);
    CHECK(!strcmp(read_text(out), "second"), "rewrite holds '%s'", read_text(out));
    // "folder/" is not a file name
    char dirname_path[1100];
    snprintf(dirname_path, sizeof dirname_path, "%s/", dc_test_tmpdir());
    st = write_str(dirname_path, "x", &err);
    CHECK(st != DC_OK && strstr(err.msg, "directory"), "path ending in '/': %d %s", st, err.msg);
}

// ---------------------------------------------------------------------------
// Bug 4: a device node or FIFO given as the output is refused, not replaced.

static void test_non_regular_target(void) {
    dc_error err = {{0}};
    // a FIFO (opened by nobody: a write into it would block, so the refusal
    // must come before any open)
    const char *fifo = tpath("out.fifo");
    CHECK(mkfifo(fifo, 0600) == 0, "mkfifo: %s", strerror(errno));
    dc_status st = write_str(fifo, "data", &err);
    struct stat sb;
    CHECK(st == DC_ERR_ARG && strstr(err.msg, "FIFO") && strstr(err.msg, fifo), "FIFO target: %d %s", st, err.msg);
    CHECK(lstat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode), "the FIFO was replaced");
    // a symlink to a FIFO is the FIFO
    const char *link = tpath("fifo.link");
    CHECK(symlink(fifo, link) == 0, "symlink: %s", strerror(errno));
    st = write_str(link, "data", &err);
    CHECK(st == DC_ERR_ARG && lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode), "symlink to FIFO: %d %s", st, err.msg);
    // a character device: our own copy of /dev/null's node (never /dev/null
    // itself: an unfixed writer running as root would replace it)
    const char *dev = tpath("null.dev");
    if (mknod(dev, S_IFCHR | 0666, makedev(1, 3)) == 0) {
        st = write_str(dev, "data", &err);
        CHECK(st == DC_ERR_ARG && strstr(err.msg, "character device"), "device target: %d %s", st, err.msg);
        CHECK(lstat(dev, &sb) == 0 && S_ISCHR(sb.st_mode), "the device node was replaced");
    } else {
        printf("  (no device-node check: mknod: %s)\n", strerror(errno));
    }
    // a directory
    const char *dir = tpath("outdir");
    CHECK(mkdir(dir, 0700) == 0, "mkdir: %s", strerror(errno));
    st = write_str(dir, "data", &err);
    CHECK(st == DC_ERR_ARG && strstr(err.msg, "directory"), "directory target: %d %s", st, err.msg);
    // a symlink to a regular file is replaced by the new file; its target stays
    const char *target = tpath("target.txt"), *rlink = tpath("regular.link");
    write_text(target, "old");
    CHECK(symlink(target, rlink) == 0, "symlink: %s", strerror(errno));
    CHECK(write_str(rlink, "new", &err) == DC_OK, "%s", err.msg);
    CHECK(!strcmp(read_text(target), "old") && !strcmp(read_text(rlink), "new"), "symlink to a regular file");
}

// ---------------------------------------------------------------------------
// Bug 9: temporary files of killed writers are removed by the next save, and
// nothing else is.

static bool exists_nofollow(const char *path) {
    struct stat sb;
    return lstat(path, &sb) == 0;
}

static void test_stale_temps(void) {
    // a pid that is certainly dead: a child we reaped
    pid_t child = fork();
    if (child == 0) _exit(0);
    CHECK(child > 0, "fork: %s", strerror(errno));
    waitpid(child, NULL, 0);
    const long dead = (long)child, live = (long)getppid();
    const char *out = tpath("ckpt.safetensors");
    char stale[1100], legacy[1100], alive[1100], sym[1100], other[1100], odd[1100], foreign[1100];
    snprintf(stale, sizeof stale, "%s.tmp.%ld.aB3xYz", out, dead);
    snprintf(legacy, sizeof legacy, "%s.tmp.%ld", out, dead);
    snprintf(alive, sizeof alive, "%s.tmp.%ld.kEEp01", out, live);
    snprintf(sym, sizeof sym, "%s.tmp.%ld.link00", out, dead);
    snprintf(other, sizeof other, "%s/other.safetensors.tmp.%ld.aB3xYz", dc_test_tmpdir(), dead);
    snprintf(odd, sizeof odd, "%s.tmp.%ld.notes", out, dead);
    snprintf(foreign, sizeof foreign, "%s.tmp.%ld.f0reig", out, dead);
    const char *victim = tpath("stale-victim.txt");
    write_text(victim, "keep me");
    write_text(stale, "half a checkpoint");
    write_text(legacy, "half a checkpoint (old name)");
    write_text(alive, "being written right now");
    CHECK(symlink(victim, sym) == 0, "symlink: %s", strerror(errno));
    write_text(other, "another output's temp");
    write_text(odd, "not the writer's pattern");
    write_text(foreign, "another user's");
    bool have_foreign = chown(foreign, 12345, 12345) == 0; // only as root
    dc_error err = {{0}};
    CHECK(write_str(out, "checkpoint", &err) == DC_OK, "%s", err.msg);
    CHECK(!exists_nofollow(stale), "stale temporary file of a dead writer was not removed");
    CHECK(!exists_nofollow(legacy), "stale <out>.tmp.<pid> of an older writer was not removed");
    CHECK(exists_nofollow(alive), "a live writer's temporary file was removed");
    CHECK(exists_nofollow(sym) && !strcmp(read_text(victim), "keep me"), "a symlink matching the pattern was touched");
    CHECK(exists_nofollow(other), "another output's temporary file was removed");
    CHECK(exists_nofollow(odd), "a file outside the pattern was removed");
    if (have_foreign) CHECK(exists_nofollow(foreign), "another user's file was removed");
    CHECK(!strcmp(read_text(out), "checkpoint"), "output holds '%s'", read_text(out));
}

int main(void) {
    test_symlink_at_temp_name();
    test_non_regular_target();
    test_stale_temps();
    return dc_test_finish();
}
