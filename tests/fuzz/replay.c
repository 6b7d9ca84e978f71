// replay.c — a main() for a harness without libFuzzer: runs
// LLVMFuzzerTestOneInput once on every file named (directories: every file
// in them, in name order). CTest runs each harness this way over its seed
// corpus and its regression inputs in every build, so the ASan/UBSan build
// (-DDEEPC_SANITIZE=ON) replays them with gcc too.
//
//   fuzz_replay_<name> [--skip LIST] PATH...
//
// LIST (tests/fuzz/regressions/OPEN) names reproducers of bugs that are
// known and not fixed yet, one "harness/file" per line ('#' starts a
// comment); those are skipped, and said so. A broken invariant or a
// sanitizer report aborts, so the test fails; so does a run that replays no
// input at all (a missing PATH is only noted: a harness may have no
// regression inputs yet, but it always has a seed corpus).
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size); // the harness

static char **g_skip;
static int g_n_skip;

static void load_skip_list(const char *path) {
    FILE *f = fopen(path, "r");
    if (!f) return; // no list: nothing is open
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *s = line + strspn(line, " \t\r\n");
        size_t n = strcspn(s, " \t\r\n");
        if (!n) continue;
        s[n] = 0;
        g_skip = realloc(g_skip, sizeof *g_skip * (size_t)(g_n_skip + 1));
        if (!g_skip || !(g_skip[g_n_skip++] = strdup(s))) abort();
    }
    fclose(f);
}

// "harness/file" from the last two components of path.
static int skipped(const char *path) {
    const char *end = path + strlen(path), *p = end;
    int slashes = 0;
    while (p > path && slashes < 2)
        if (*--p == '/') slashes++;
    if (*p == '/') p++;
    for (int i = 0; i < g_n_skip; i++)
        if (!strcmp(p, g_skip[i])) return 1;
    return 0;
}

static int g_run, g_skipped;

static void run_file(const char *path) {
    if (skipped(path)) {
        printf("skipped (known open, regressions/OPEN): %s\n", path);
        g_skipped++;
        return;
    }
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: cannot open %s\n", path);
        exit(2);
    }
    uint8_t *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 4096;
            if (!(buf = realloc(buf, cap))) abort();
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        if (!n) break;
        len += n;
    }
    fclose(f);
    // an exact-size copy, so ASan sees a read one past the end
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) abort();
    memcpy(exact, buf, len);
    free(buf);
    fflush(stdout);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    g_run++;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static void run_path(const char *path) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        printf("replay: %s does not exist (no inputs there yet)\n", path);
        return;
    }
    if (!S_ISDIR(sb.st_mode)) {
        run_file(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "replay: cannot list %s\n", path);
        exit(2);
    }
    char **names = NULL;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        names = realloc(names, sizeof *names * (size_t)(n + 1));
        if (!names || !(names[n++] = strdup(e->d_name))) abort();
    }
    closedir(d);
    if (n) qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int i = 0; i < n; i++) {
        char full[8192];
        snprintf(full, sizeof full, "%s/%s", path, names[i]);
        struct stat fs;
        if (stat(full, &fs) == 0 && S_ISREG(fs.st_mode)) run_file(full);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv) {
    int first = 1;
    if (argc > 2 && !strcmp(argv[1], "--skip")) {
        load_skip_list(argv[2]);
        first = 3;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: %s [--skip LIST] PATH...\n", argv[0]);
        return 2;
    }
    for (int i = first; i < argc; i++) run_path(argv[i]);
    printf("%d passed, 0 failed (%d inputs replayed, %d known-open skipped)\n", g_run, g_run, g_skipped);
    for (int i = 0; i < g_n_skip; i++) free(g_skip[i]);
    free(g_skip);
    return g_run ? 0 : 1;
}
