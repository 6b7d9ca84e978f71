// idx.c — the IDX reader (the MNIST / Fashion-MNIST file format).
//
// Contract: dc_idx_load reads one image file and one label file, raw or
// gzip-compressed (zlib's gzread reads both; we sniff the first bytes so a
// file named .gz that is not gzip, or a gzip stream cut short, is reported as
// such rather than as a confusing IDX error). Everything in the header is
// checked before it is trusted: the two zero magic bytes, the type byte
// (only 0x08, unsigned byte), the rank (images: 3 = (N,H,W) or 4 =
// (N,C,H,W); labels: 1), nonzero dimensions whose product neither overflows
// nor exceeds DC_IDX_MAX_BYTES, and the dimensions against the bytes that are
// really there (too few: truncated; too many: trailing bytes). Memory follows
// the bytes that arrive, never the header's claim: a raw file's claim is
// checked against its size first, a compressed one's buffer grows as the
// stream delivers. Counts of the
// two files must agree. Every message starts with the offending file's path.
// On failure the dataset is left zeroed (safe to dc_dataset_free).
//
// Format (big-endian): bytes 0,1 = 0; byte 2 = type; byte 3 = rank R; then R
// uint32 dimensions; then the data, row-major.
#define _POSIX_C_SOURCE 200809L
#include "core/core.h"
#include "data/data.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

// Guard against absurd headers: no IDX file we accept holds more than 4 GiB
// of data (Fashion-MNIST's training images are 47 MB).
#define DC_IDX_MAX_BYTES ((uint64_t)4 << 30)
// A compressed file's buffer starts at most this large (or 4x the file) and
// grows as data arrives; trailing garbage is counted up to this much.
#define DC_IDX_FIRST_CHUNK ((uint64_t)4 << 20)
#define DC_IDX_MAX_TRAILING ((uint64_t)1 << 20)

enum idx_kind { IDX_IMAGES, IDX_LABELS };

// What a successfully read IDX file holds.
typedef struct idx_data {
    int rank;          // 1, 3 or 4
    uint32_t dims[4];  // rank entries used
    uint8_t *data;     // product(dims) bytes, owned by the caller (dc_free)
    uint64_t len;      // product(dims)
} idx_data;

// ---------------------------------------------------------------------------
// Small helpers

static const char *idx_type_name(unsigned t) {
    switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    }
    return "not an IDX type code";
}

static int ends_with(const char *s, const char *suffix) {
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static uint32_t be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

// Describes what the header says, for size messages:
// "60000 images of 28x28", "2 images of 3x32x32", "60000 labels".
static void describe(char *buf, size_t cap, enum idx_kind kind, int rank,
                     const uint32_t *d) {
    if (kind == IDX_LABELS)
        snprintf(buf, cap, "%u labels", d[0]);
    else if (rank == 3)
        snprintf(buf, cap, "%u images of %ux%u", d[0], d[1], d[2]);
    else
        snprintf(buf, cap, "%u images of %ux%ux%u", d[0], d[1], d[2], d[3]);
}

// After a short or failed gzread: if zlib recorded an error, turn it into a
// message and return non-OK; DC_OK means the stream simply ended.
static dc_status gz_stream_status(gzFile f, const char *path, int gz,
                                  dc_error *err) {
    int errnum = Z_OK;
    const char *zmsg = gzerror(f, &errnum);
    // zlib prefixes its message with the path; ours already starts with it.
    size_t plen = strlen(path);
    if (zmsg && strncmp(zmsg, path, plen) == 0 && strncmp(zmsg + plen, ": ", 2) == 0)
        zmsg += plen + 2;
    switch (errnum) {
    case Z_OK:
    case Z_STREAM_END:
        return DC_OK;
    case Z_BUF_ERROR: // zlib: "unexpected end of file" inside a gzip member
        return dc_fail(err, DC_ERR_FORMAT,
                       "%s: truncated gzip stream (zlib: %s): the file was cut "
                       "short, download or copy it again",
                       path, zmsg);
    case Z_DATA_ERROR:
        return dc_fail(err, DC_ERR_FORMAT,
                       "%s: corrupt gzip stream (zlib: %s): download or copy "
                       "it again", path, zmsg);
    case Z_MEM_ERROR:
        return dc_fail(err, DC_ERR_NOMEM, "%s: out of memory decompressing", path);
    case Z_ERRNO:
        return dc_fail(err, DC_ERR_IO, "%s: read error: %s", path, strerror(errno));
    default:
        return dc_fail(err, DC_ERR_IO, "%s: %s read error (zlib: %s)", path,
                       gz ? "gzip" : "file", zmsg);
    }
}

// Reads up to len bytes (gzread takes an unsigned int, so in chunks).
// *got receives the count; returns non-OK only on a stream error.
static dc_status gz_read_all(gzFile f, const char *path, int gz, void *buf,
                             uint64_t len, uint64_t *got, dc_error *err) {
    uint8_t *p = buf;
    *got = 0;
    while (*got < len) {
        uint64_t want = len - *got;
        if (want > (1u << 30)) want = 1u << 30;
        int n = gzread(f, p + *got, (unsigned)want);
        if (n < 0) {
            dc_status st = gz_stream_status(f, path, gz, err);
            return st ? st : dc_fail(err, DC_ERR_IO, "%s: read error", path);
        }
        *got += (uint64_t)n;
        if ((uint64_t)n < want) break; // end of data (or an error, checked below)
    }
    if (*got < len) return gz_stream_status(f, path, gz, err);
    return DC_OK;
}

// ---------------------------------------------------------------------------
// One IDX file

static dc_status idx_read(idx_data *out, const char *path, enum idx_kind kind,
                          dc_error *err) {
    memset(out, 0, sizeof *out);
    const char *what = kind == IDX_IMAGES ? "images" : "labels";

    struct stat sb;
    if (stat(path, &sb) != 0)
        return dc_fail(err, DC_ERR_IO, "%s: cannot open %s file: %s", path, what,
                       strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return dc_fail(err, DC_ERR_IO, "%s: is a directory, expected an IDX %s file",
                       path, what);

    // Sniff the first two bytes: gzip or not, and empty or not.
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return dc_fail(err, DC_ERR_IO, "%s: cannot open %s file: %s", path, what,
                       strerror(errno));
    uint8_t sniff[2] = {0, 0};
    size_t ns = fread(sniff, 1, 2, fp);
    int read_bad = ferror(fp);
    fclose(fp);
    if (read_bad)
        return dc_fail(err, DC_ERR_IO, "%s: read error", path);
    if (ns == 0)
        return dc_fail(err, DC_ERR_FORMAT,
                       "%s: file is empty (0 bytes), expected an IDX %s file", path,
                       what);
    int gz = ns == 2 && sniff[0] == 0x1f && sniff[1] == 0x8b;
    if (ends_with(path, ".gz") && !gz)
        return dc_fail(err, DC_ERR_FORMAT,
                       "%s: name ends in .gz but the file is not gzip-compressed "
                       "(starts with 0x%02x 0x%02x, gzip starts with 0x1f 0x8b): "
                       "corrupt download, or rename it without .gz",
                       path, sniff[0], ns > 1 ? sniff[1] : 0);
    const char *bytes_word = gz ? "decompressed bytes" : "bytes";

    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f)
        return dc_fail(err, errno ? DC_ERR_IO : DC_ERR_NOMEM, "%s: cannot open %s file: %s",
                       path, what, errno ? strerror(errno) : "out of memory");
    gzbuffer(f, 1u << 17); // fewer syscalls than the 8 KiB default

    dc_status st;
    uint64_t got = 0;
    uint8_t head[4 + 4 * 4];

    // Magic: 0, 0, type, rank.
    if ((st = gz_read_all(f, path, gz, head, 4, &got, err))) goto fail;
    if (got < 4) {
        st = dc_fail(err, DC_ERR_FORMAT,
                     "%s: truncated header: file has only %llu %s, an IDX header "
                     "needs 4 (magic) + 4 per dimension",
                     path, (unsigned long long)got, bytes_word);
        goto fail;
    }
    uint32_t magic = be32(head);
    unsigned type = head[2], rank = head[3];
    if (head[0] != 0 || head[1] != 0) {
        st = dc_fail(err, DC_ERR_FORMAT,
                     "%s: bad IDX magic 0x%08x: an IDX file starts with two zero "
                     "bytes (expected 0x%08x for %s): is this an IDX file?",
                     path, magic, kind == IDX_IMAGES ? 0x803u : 0x801u, what);
        goto fail;
    }
    if (type != 0x08) {
        st = dc_fail(err, DC_ERR_FORMAT,
                     "%s: IDX type byte is 0x%02x (%s), expected 0x08 (unsigned "
                     "byte): deepc reads 8-bit %s only",
                     path, type, idx_type_name(type), what);
        goto fail;
    }
    if (kind == IDX_IMAGES && rank != 3 && rank != 4) {
        st = dc_fail(err, DC_ERR_FORMAT,
                     "%s: expected IDX magic 0x00000803 (rank 3, N x H x W) or "
                     "0x00000804 (rank 4, N x C x H x W) for images, found "
                     "0x%08x (rank %u)%s",
                     path, magic, rank, rank == 1 ? ": is this a labels file?" : "");
        goto fail;
    }
    if (kind == IDX_LABELS && rank != 1) {
        st = dc_fail(err, DC_ERR_FORMAT,
                     "%s: expected IDX magic 0x00000801 (rank 1) for labels, "
                     "found 0x%08x (rank %u)%s",
                     path, magic, rank,
                     (rank == 3 || rank == 4) ? ": is this an images file?" : "");
        goto fail;
    }

    // Dimensions.
    if ((st = gz_read_all(f, path, gz, head + 4, 4u * rank, &got, err))) goto fail;
    if (got < 4u * rank) {
        st = dc_fail(err, DC_ERR_FORMAT,
                     "%s: truncated header: rank %u needs %u header bytes, file "
                     "has only %llu %s",
                     path, rank, 4 + 4 * rank, (unsigned long long)(4 + got),
                     bytes_word);
        goto fail;
    }
    out->rank = (int)rank;
    uint64_t total = 1;
    static const char *const dim_names[2][4] = {{"N", "H", "W", ""},
                                                {"N", "C", "H", "W"}};
    for (unsigned i = 0; i < rank; i++) {
        out->dims[i] = be32(head + 4 + 4 * i);
        const char *dn = kind == IDX_LABELS ? "N" : dim_names[rank == 4][i];
        if (out->dims[i] == 0) {
            st = dc_fail(err, DC_ERR_FORMAT,
                         "%s: dimension %u (%s) is zero: an IDX %s file needs "
                         "nonzero dimensions",
                         path, i, dn, what);
            goto fail;
        }
        if (out->dims[i] > INT_MAX) {
            st = dc_fail(err, DC_ERR_FORMAT,
                         "%s: dimension %u (%s) is %u, more than the %d allowed: "
                         "corrupt header?", path, i, dn, out->dims[i], INT_MAX);
            goto fail;
        }
        // Checked before multiplying so the product can neither overflow
        // nor pass the limit.
        if (total > DC_IDX_MAX_BYTES / out->dims[i]) {
            st = dc_fail(err, DC_ERR_FORMAT,
                         "%s: header dimensions describe more than %llu bytes of "
                         "data (the limit): corrupt header?",
                         path, (unsigned long long)DC_IDX_MAX_BYTES);
            goto fail;
        }
        total *= out->dims[i];
    }
    out->len = total;
    uint64_t per_sample = total / out->dims[0];
    if (per_sample > INT_MAX) {
        st = dc_fail(err, DC_ERR_FORMAT,
                     "%s: one sample is %llu bytes, more than %d: corrupt header?",
                     path, (unsigned long long)per_sample, INT_MAX);
        goto fail;
    }

    char desc[128];
    describe(desc, sizeof desc, kind, (int)rank, out->dims);
    uint64_t header_len = 4 + 4 * (uint64_t)rank;

    // Data that cannot fit in this machine's memory is refused here, by
    // name, rather than by the allocator (or the OOM killer) later.
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && page > 0 && total > (uint64_t)pages * (uint64_t)page) {
        st = dc_fail(err, DC_ERR_NOMEM,
                     "%s: header declares %s = %llu bytes, more than this machine's "
                     "%llu bytes of memory", path, desc, (unsigned long long)total,
                     (unsigned long long)pages * (unsigned long long)page);
        goto fail;
    }

    // For raw files the size on disk is known: check before allocating.
    if (!gz && (uint64_t)sb.st_size != header_len + total) {
        uint64_t have = (uint64_t)sb.st_size - header_len; // >= 0: header was read
        if (have < total)
            st = dc_fail(err, DC_ERR_FORMAT,
                         "%s: truncated: header says %s = %llu bytes, file has "
                         "%llu", path, desc, (unsigned long long)total,
                         (unsigned long long)have);
        else
            st = dc_fail(err, DC_ERR_FORMAT,
                         "%s: %llu trailing bytes after the %llu bytes of data "
                         "the header describes (%s): wrong header or "
                         "concatenated files?", path,
                         (unsigned long long)(have - total),
                         (unsigned long long)total, desc);
        goto fail;
    }

    // A raw file's size was checked above, so its buffer is allocated whole.
    // A compressed stream's header is only a claim (31 bytes of gzip can
    // claim 4 GiB): its buffer starts at what the compressed size plausibly
    // holds and doubles as data really arrives, so memory follows the data.
    uint64_t cap = total;
    if (gz) {
        uint64_t guess = 4 * (uint64_t)sb.st_size; // Fashion-MNIST: about 1.8x
        if (guess < DC_IDX_FIRST_CHUNK) guess = DC_IDX_FIRST_CHUNK;
        if (cap > guess) cap = guess;
    }
    out->data = dc_alloc((size_t)cap);
    if (!out->data) {
        st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for %llu bytes (%s)",
                     path, (unsigned long long)cap, desc);
        goto fail;
    }
    got = 0;
    for (;;) {
        uint64_t more = 0;
        if ((st = gz_read_all(f, path, gz, out->data + got, cap - got, &more, err))) goto fail;
        got += more;
        if (got < cap || cap == total) break; // the stream ended, or all is read
        uint64_t ncap = cap > total / 2 ? total : 2 * cap;
        // realloc: large blocks move by remapping pages, so the peak stays
        // near the final size (alignment beyond malloc's is not needed for
        // pixel bytes; dc_free is free)
        uint8_t *nb = realloc(out->data, (size_t)ncap);
        if (!nb) {
            st = dc_fail(err, DC_ERR_NOMEM,
                         "%s: out of memory after decompressing %llu of the %llu "
                         "bytes the header declares (%s)", path,
                         (unsigned long long)got, (unsigned long long)total, desc);
            goto fail;
        }
        out->data = nb;
        cap = ncap;
    }
    if (got < total) {
        st = dc_fail(err, DC_ERR_FORMAT,
                     "%s: truncated: header says %s = %llu bytes, file has %llu%s",
                     path, desc, (unsigned long long)total,
                     (unsigned long long)got, gz ? " (after decompression)" : "");
        goto fail;
    }

    // Nothing may follow the data. Reading on also makes zlib verify the
    // gzip trailer (CRC and length).
    uint64_t extra = 0;
    for (;;) {
        uint8_t scratch[4096];
        int n = gzread(f, scratch, sizeof scratch);
        if (n < 0 || (n == 0 && gz_stream_status(f, path, gz, NULL))) {
            st = gz_stream_status(f, path, gz, err);
            if (!st) st = dc_fail(err, DC_ERR_IO, "%s: read error", path);
            goto fail;
        }
        if (n == 0) break;
        extra += (uint64_t)n;
        if (extra > DC_IDX_MAX_TRAILING) break; // enough to say it is wrong
    }
    if (extra) {
        st = dc_fail(err, DC_ERR_FORMAT,
                     "%s: %s%llu trailing bytes after the %llu bytes of data the "
                     "header describes (%s): wrong header or concatenated files?",
                     path, extra > DC_IDX_MAX_TRAILING ? "more than " : "",
                     (unsigned long long)extra, (unsigned long long)total, desc);
        goto fail;
    }

    int zc = gzclose_r(f);
    f = NULL;
    if (zc != Z_OK) {
        st = dc_fail(err, zc == Z_BUF_ERROR ? DC_ERR_FORMAT : DC_ERR_IO,
                     "%s: %s", path,
                     zc == Z_BUF_ERROR ? "truncated gzip stream" : "error closing file");
        goto fail;
    }
    return DC_OK;

fail:
    if (f) gzclose_r(f);
    dc_free(out->data);
    memset(out, 0, sizeof *out);
    return st;
}

// ---------------------------------------------------------------------------
// Public: images + labels

dc_status dc_idx_load(dc_dataset *ds, const char *images_path,
                      const char *labels_path, dc_error *err) {
    memset(ds, 0, sizeof *ds);
    idx_data im, lb;
    dc_status st = idx_read(&im, images_path, IDX_IMAGES, err);
    if (st) return st;
    st = idx_read(&lb, labels_path, IDX_LABELS, err);
    if (st) {
        dc_free(im.data);
        return st;
    }
    if (im.dims[0] != lb.dims[0]) {
        st = dc_fail(err, DC_ERR_SHAPE,
                     "%s: has %u images but %s has %u labels: the two files must "
                     "describe the same samples (train/test files mixed up?)",
                     images_path, im.dims[0], labels_path, lb.dims[0]);
        goto out;
    }

    int32_t *labels = dc_alloc(sizeof(int32_t) * lb.dims[0]);
    if (!labels) {
        st = dc_fail(err, DC_ERR_NOMEM, "%s: out of memory for %u labels",
                     labels_path, lb.dims[0]);
        goto out;
    }
    int maxl = 0;
    for (uint32_t i = 0; i < lb.dims[0]; i++) {
        labels[i] = lb.data[i];
        if (lb.data[i] > maxl) maxl = lb.data[i];
    }

    ds->n = (int)im.dims[0];
    if (im.rank == 3) {
        ds->c = 1;
        ds->h = (int)im.dims[1];
        ds->w = (int)im.dims[2];
    } else {
        ds->c = (int)im.dims[1];
        ds->h = (int)im.dims[2];
        ds->w = (int)im.dims[3];
    }
    ds->n_classes = maxl + 1 < 2 ? 2 : maxl + 1;
    ds->pixels = im.data;
    ds->labels = labels;
    im.data = NULL;
    snprintf(ds->source, sizeof ds->source, "%s", images_path);
    st = DC_OK;

out:
    dc_free(im.data);
    dc_free(lb.data);
    return st;
}
