/*
 * _scan: the hot loop of brownout's text-format reader, in C.
 *
 * scan(data, val, ts, h1, h2, koff, klen, line, status) walks every line of
 * `data` once and fills caller-owned buffers (any writable buffer: numpy
 * arrays) with one row per non-blank line:
 *   status 0: sample with timestamp, 1: sample without timestamp,
 *          2: malformed, 3: comment (koff/klen span the whole line).
 *   h1, h2: two independent 64-bit hashes of the series key (FNV-1a and a
 *           multiply-xorshift), used together as a 128-bit identity;
 *   koff, klen: where the key is, so new keys can be resolved once in Python.
 * Stops when the buffers are full. Returns (rows, lines, bytes consumed).
 * The Python side (parse.py) owns every decision about
 * what a row means; this file only finds fields and converts numbers.
 * Built as an optional extension: without a compiler, the numpy path is used.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int is_name_char(unsigned char c, int first) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':') return 1;
    return !first && c >= '0' && c <= '9';
}

/* Past the closing quote of a label value that opens at p (p points at '"'),
 * or NULL. memchr skips the value's body; a quote preceded by an odd number
 * of backslashes is escaped and does not close it. */
static const char *skip_quoted(const char *p, const char *end) {
    const char *q = p + 1;
    for (;;) {
        q = memchr(q, '"', (size_t)(end - q));
        if (!q) return NULL;
        const char *b = q;
        while (b > p + 1 && b[-1] == '\\') b--;
        if (((q - b) & 1) == 0) return q + 1;
        q++;
    }
}

/* End of the series key starting at p (exclusive), or NULL if malformed. */
static const char *key_end(const char *p, const char *end) {
    if (p >= end || !is_name_char((unsigned char)*p, 1)) return NULL;
    while (p < end && is_name_char((unsigned char)*p, 0)) p++;
    if (p < end && *p == '{') {
        for (p++; p < end;) {
            if (*p == '"') {
                p = skip_quoted(p, end);
                if (!p) return NULL;
            } else if (*p == '}') {
                return p + 1;
            } else {
                p++;
            }
        }
        return NULL;
    }
    return p;
}

static const double POW10[] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
                               1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18};

/* Plain decimals ([-]digits[.digits]) exactly as strtod would round them:
 * when the integer mantissa is at most 2^53 and the power of ten at most 1e18,
 * both are exact doubles and one IEEE division rounds correctly (Clinger's
 * fast path). Anything else returns -1 and strtod decides. */
static int parse_simple(const char *p, const char *q, double *out) {
    int neg = 0, digits = 0, frac = -1;
    uint64_t m = 0;
    if (p < q && (*p == '-' || *p == '+')) { neg = (*p == '-'); p++; }
    if (p == q) return -1;
    for (; p < q; p++) {
        if (*p >= '0' && *p <= '9') {
            if (++digits > 18) return -1;
            m = m * 10 + (uint64_t)(*p - '0');
            if (frac >= 0) frac++;
        } else if (*p == '.' && frac < 0) {
            frac = 0;
        } else {
            return -1;
        }
    }
    if (digits == 0 || m > (1ULL << 53) || frac > 18) return -1;
    double v = (double)m;
    if (frac > 0) v /= POW10[frac];
    *out = neg ? -v : v;
    return 0;
}

/* Parse one float token [p, q); returns 0 on success. */
static int parse_num(const char *p, const char *q, double *out) {
    if (parse_simple(p, q, out) == 0) return 0;
    char buf[64];
    size_t n = (size_t)(q - p);
    if (n == 0 || n >= sizeof buf) return -1;
    memcpy(buf, p, n);
    buf[n] = 0;
    char *stop = NULL;
    *out = strtod(buf, &stop);
    return (stop == buf + n) ? 0 : -1;
}

/* Two independent 64-bit hashes of [p, q), eight bytes at a time. */
static void hash_key(const char *p, const char *q, uint64_t *a, uint64_t *b) {
    uint64_t h1 = 0x243F6A8885A308D3ULL ^ (uint64_t)(q - p);
    uint64_t h2 = 0x9E3779B97F4A7C15ULL + (uint64_t)(q - p);
    while (p < q) {
        uint64_t w = 0;
        size_t n = (size_t)(q - p) < 8 ? (size_t)(q - p) : 8;
        memcpy(&w, p, n);
        p += n;
        h1 = (h1 ^ w) * 0xff51afd7ed558ccdULL;
        h1 ^= h1 >> 32;
        h2 = (h2 + w) * 0xc4ceb9fe1a85ec53ULL;
        h2 ^= h2 >> 29;
    }
    h1 ^= h1 >> 33;
    h1 *= 0x94d049bb133111ebULL;
    h1 ^= h1 >> 31;
    *a = h1;
    *b = h2 ^ (h2 >> 31);
}

typedef struct {
    double *val, *ts;
    uint64_t *h1, *h2;
    int64_t *koff, *line;
    int32_t *klen;
    int8_t *status;
} Rows;

static const char *skip_spaces(const char *p, const char *end) {
    while (p < end && *p == ' ') p++;
    return p;
}

static const char *token_end(const char *p, const char *end) {
    while (p < end && *p != ' ') p++;
    return p;
}

static int8_t parse_line(const char *base, const char *p, const char *end, Rows *r,
                         Py_ssize_t i) {
    const char *k = key_end(p, end);
    r->koff[i] = p - base;
    r->klen[i] = (int32_t)((k ? k : end) - p);
    if (!k || k >= end || *k != ' ') return 2;
    hash_key(p, k, &r->h1[i], &r->h2[i]);
    const char *v = skip_spaces(k, end), *ve = token_end(v, end);
    if (parse_num(v, ve, &r->val[i])) return 2;
    const char *t = skip_spaces(ve, end);
    if (t == end) { r->ts[i] = 0.0; return 1; }
    if (*t == '#') { r->ts[i] = 0.0; return 1; }  /* exemplar, no timestamp */
    const char *te = token_end(t, end);
    if (parse_num(t, te, &r->ts[i])) return 2;
    const char *rest = skip_spaces(te, end);
    if (rest != end && *rest != '#') return 2;
    return 0;
}

static PyObject *scan(PyObject *self, PyObject *args) {
    Py_buffer in, b[8];
    if (!PyArg_ParseTuple(args, "y*w*w*w*w*w*w*w*w*", &in, &b[0], &b[1], &b[2], &b[3],
                          &b[4], &b[5], &b[6], &b[7]))
        return NULL;
    /* every output must hold at least `cap` rows */
    Py_ssize_t cap = b[7].len, rows = 0, lines = 0;
    int sizes[8] = {8, 8, 8, 8, 8, 4, 8, 1};
    for (int j = 0; j < 8; j++) {
        if (b[j].len < cap * sizes[j]) {
            PyBuffer_Release(&in);
            for (int k = 0; k < 8; k++) PyBuffer_Release(&b[k]);
            PyErr_SetString(PyExc_ValueError, "output buffer too small");
            return NULL;
        }
    }
    Rows r = {b[0].buf, b[1].buf, b[2].buf, b[3].buf, b[4].buf, b[6].buf, b[5].buf, b[7].buf};
    const char *base = in.buf, *p = base, *end = base + in.len;
    Py_BEGIN_ALLOW_THREADS
    while (p < end && rows < cap) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        lines++;
        if (le > p && !(le - p == 1 && *p == '\r')) {
            const char *q = (le[-1] == '\r') ? le - 1 : le;
            r.line[rows] = lines;
            if (*p == '#') {
                r.koff[rows] = p - base;
                r.klen[rows] = (int32_t)(q - p);
                r.status[rows] = 3;
            } else {
                r.status[rows] = parse_line(base, p, q, &r, rows);
            }
            rows++;
        }
        p = nl ? nl + 1 : end;
    }
    Py_END_ALLOW_THREADS
    Py_ssize_t consumed = p - base;
    PyBuffer_Release(&in);
    for (int j = 0; j < 8; j++) PyBuffer_Release(&b[j]);
    return Py_BuildValue("nnn", rows, lines, consumed);
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS, "Find and convert the fields of every line (see module doc)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_scan",
                                    "Hot loop of the text-format reader.", -1, methods};

PyMODINIT_FUNC PyInit__scan(void) { return PyModule_Create(&module); }
