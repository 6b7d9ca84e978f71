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
#include <sys/resource.h>
#include <zlib.h>
#include <unistd.h>
#include <signal.h>

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
    CHECK(st == DC_ERR_IO && strstr(err.msg, "FIFO") && strstr(err.msg, fifo), "FIFO target: %d %s", st, err.msg);
    CHECK(lstat(fifo, &sb) == 0 && S_ISFIFO(sb.st_mode), "the FIFO was replaced");
    // a symlink to a FIFO is the FIFO
    const char *link = tpath("fifo.link");
    CHECK(symlink(fifo, link) == 0, "symlink: %s", strerror(errno));
    st = write_str(link, "data", &err);
    CHECK(st == DC_ERR_IO && lstat(link, &sb) == 0 && S_ISLNK(sb.st_mode), "symlink to FIFO: %d %s", st, err.msg);
    // a character device: our own copy of /dev/null's node (never /dev/null
    // itself: an unfixed writer running as root would replace it)
    const char *dev = tpath("null.dev");
    if (mknod(dev, S_IFCHR | 0666, makedev(1, 3)) == 0) {
        st = write_str(dev, "data", &err);
        CHECK(st == DC_ERR_IO && strstr(err.msg, "character device"), "device target: %d %s", st, err.msg);
        CHECK(lstat(dev, &sb) == 0 && S_ISCHR(sb.st_mode), "the device node was replaced");
    } else {
        printf("  (no device-node check: mknod: %s)\n", strerror(errno));
    }
    // a directory
    const char *dir = tpath("outdir");
    CHECK(mkdir(dir, 0700) == 0, "mkdir: %s", strerror(errno));
    st = write_str(dir, "data", &err);
    CHECK(st == DC_ERR_IO && strstr(err.msg, "directory"), "directory target: %d %s", st, err.msg);
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

// ---------------------------------------------------------------------------
// Bug 5 (IDX half): a tiny compressed file whose header claims a huge data
// set must not make the loader allocate the claim; real data that is larger
// than the first buffer must still load exactly.

static const char *write_idx_gz(const char *name, int rank, const uint32_t *dims, const uint8_t *data,
                                size_t n) {
    const char *path = tpath(name);
    uint8_t head[4 + 16] = {0, 0, 0x08, (uint8_t)rank};
    for (int i = 0; i < rank; i++)
        for (int b = 0; b < 4; b++) head[4 + 4 * i + b] = (uint8_t)(dims[i] >> (24 - 8 * b));
    gzFile f = gzopen(path, "wb9");
    if (!f || gzwrite(f, head, (unsigned)(4 + 4 * rank)) != 4 + 4 * rank ||
        (n && gzwrite(f, data, (unsigned)n) != (int)n) || gzclose(f) != Z_OK) {
        fprintf(stderr, "%s: cannot write\n", path);
        exit(2);
    }
    return path;
}

static long peak_rss_kib(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static void test_idx_claims(void) {
    uint8_t lab[160];
    for (int i = 0; i < 160; i++) lab[i] = (uint8_t)(i % 10);
    uint32_t ldims[1] = {65536};
    const char *lb_big = write_idx_gz("bomb-labels.gz", 1, ldims, lab, 160);
    // 65536 x 256 x 256 = 4 GiB claimed by a file of a few dozen bytes
    uint32_t dims[3] = {65536, 256, 256};
    const char *bomb = write_idx_gz("bomb-images.gz", 3, dims, NULL, 0);
    struct stat sb;
    stat(bomb, &sb);
    long rss0 = peak_rss_kib();
    double t0 = dc_now_seconds();
    dc_dataset ds;
    dc_error err = {{0}};
    dc_status st = dc_idx_load(&ds, bomb, lb_big, &err);
    double secs = dc_now_seconds() - t0;
    long grown = peak_rss_kib() - rss0;
    printf("  %lld-byte gzip claiming 4 GiB: %.3f s, peak RSS +%ld KiB: %s\n", (long long)sb.st_size, secs, grown,
           err.msg);
    CHECK(st == DC_ERR_FORMAT && strstr(err.msg, "truncated") && strstr(err.msg, bomb), "bomb: %d %s", st, err.msg);
    CHECK(ds.pixels == NULL && ds.n == 0, "dataset not zeroed after failure");
    CHECK(grown < 64 * 1024, "loading a %lld-byte file grew the peak RSS by %ld KiB", (long long)sb.st_size, grown);
    CHECK(secs < 2.0, "refusing the bomb took %.2f s", secs);
    // a real stream larger than the first buffer (10 MiB, compresses to kB):
    // read through several growth steps, every byte in place
    const uint32_t n = 160, h = 256, w = 256;
    size_t len = (size_t)n * h * w;
    uint8_t *px = malloc(len);
    if (!px) exit(2);
    for (size_t i = 0; i < len; i++) px[i] = (uint8_t)((i * 7) % 251);
    uint32_t d2[3] = {n, h, w}, l2[1] = {n};
    const char *im = write_idx_gz("big-images.gz", 3, d2, px, len);
    const char *lb = write_idx_gz("big-labels.gz", 1, l2, lab, n);
    st = dc_idx_load(&ds, im, lb, &err);
    CHECK(st == DC_OK, "10 MiB gzip: %s", err.msg);
    if (st == DC_OK) {
        CHECK(ds.n == (int)n && ds.h == (int)h && ds.w == (int)w, "shape %d %d %d", ds.n, ds.h, ds.w);
        CHECK(memcmp(ds.pixels, px, len) == 0, "pixels differ after the growing read");
        CHECK(ds.labels[159] == 9, "labels");
    }
    dc_dataset_free(&ds);
    // the same stream cut short (a header that claims one image more) says truncated
    uint32_t d3[3] = {n + 1, h, w}, l3[1] = {n + 1};
    uint8_t lab3[161] = {0};
    im = write_idx_gz("short-images.gz", 3, d3, px, len);
    lb = write_idx_gz("short-labels.gz", 1, l3, lab3, n + 1);
    st = dc_idx_load(&ds, im, lb, &err);
    CHECK(st == DC_ERR_FORMAT && strstr(err.msg, "truncated") && strstr(err.msg, "10485760"), "short: %s", err.msg);
    free(px);
}

// ---------------------------------------------------------------------------
// Bug 10: a directory given as a file says so (not "9223372036854775807
// bytes"); pipes are read to their end within the limit.

static void test_read_file_kinds(void) {
    uint8_t *data = NULL;
    size_t len = 0;
    dc_error err = {{0}};
    const char *dir = tpath("a-folder");
    mkdir(dir, 0700);
    dc_status st = dc_read_file(dir, &data, &len, 1 << 20, &err);
    CHECK(st != DC_OK && strstr(err.msg, "is a directory") && !strstr(err.msg, "9223372036854775807") && !data,
          "directory: %d %s", st, err.msg);
    const char *big = tpath("big.txt");
    write_text(big, "0123456789");
    st = dc_read_file(big, &data, &len, 5, &err);
    CHECK(st == DC_ERR_FORMAT && strstr(err.msg, "10 bytes") && !data, "too large: %s", err.msg);
    st = dc_read_file(big, &data, &len, 10, &err);
    CHECK(st == DC_OK && len == 10 && !memcmp(data, "0123456789", 11), "exact size: %s", err.msg);
    free(data);
    // a FIFO fed by a child: read to its end; and one that sends too much
    const char *fifo = tpath("feed.fifo");
    mkfifo(fifo, 0600);
    for (int round = 0; round < 2; round++) {
        size_t want = round == 0 ? 200000 : 300000;
        pid_t child = fork();
        if (child == 0) {
            int fd = open(fifo, O_WRONLY);
            char chunk[1000];
            memset(chunk, 'x', sizeof chunk);
            for (size_t k = 0; k < want; k += sizeof chunk)
                if (write(fd, chunk, sizeof chunk) < 0) break;
            _exit(0);
        }
        data = NULL;
        st = dc_read_file(fifo, &data, &len, 250000, &err);
        if (round == 0) CHECK(st == DC_OK && len == want && data && data[want - 1] == 'x' && data[want] == 0, "FIFO: %s", err.msg);
        else CHECK(st == DC_ERR_FORMAT && strstr(err.msg, "250000") && !data, "FIFO over the limit: %s", err.msg);
        free(data);
        kill(child, SIGKILL);
        waitpid(child, NULL, 0);
    }
}

int main(void) {
    test_idx_claims(); // first: it measures the peak RSS
    test_symlink_at_temp_name();
    test_non_regular_target();
    test_stale_temps();
    test_read_file_kinds();
    return dc_test_finish();
}
