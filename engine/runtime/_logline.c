/* The decision log's compact line, built in C (engine.runtime.auditlog's fast path).
 *
 * What a line costs in Python is mostly the interpreter around a little work: copying the
 * document to mask two ids, two HMAC-SHA-256 pseudonyms, a UUID4, a timestamp, the facts' JSON,
 * the record's reasons, and joining the parts.  LineWriter(salt, ...).line(document, parts, date,
 * eligible, branch_of, payment) does all of that in one call and returns (decision id, line bytes) -- the same bytes
 * as auditlog._compact_bytes, which the tests hold it to -- or None when the document holds
 * something only the Python path writes (a float, a date, an integer past 64 bits, a lone
 * surrogate, a key that is not text, a subclass): the caller then takes that path.
 *
 * JSON as json.dumps(ensure_ascii=False, separators=(",", ":")) and orjson write it: '"', '\\'
 * and control characters escaped (\b \f \n \r \t, else \u00xx), everything else as UTF-8.
 * Decimal values (exact amounts given through the Python API) are written as their str(), in
 * quotes, as auditlog._json_default does.  Everything runs under the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* ------------------------------------------------------------------ SHA-256 (FIPS 180-4) */

typedef struct {
    uint32_t h[8];
    uint64_t length; /* bytes absorbed */
    uint8_t block[64];
    size_t used;
} Sha256;

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

#define ROR(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha256_compress(uint32_t h[8], const uint8_t *p) {
    uint32_t w[64];
    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ (w[i - 15] >> 3);
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
    }
    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHA_NI_CODE 1

/* The same compression with the CPU's SHA extensions (Intel SHA-NI, most x86 CPUs since 2016/2017):
 * ~10x faster than the portable code, used when the CPU has them (``use_portable`` for the tests). */
__attribute__((target("sha,sse4.1,ssse3"))) static void sha256_compress_ni(uint32_t h[8], const uint8_t *p) {
    const __m128i mask = _mm_set_epi64x(0x0c0d0e0f08090a0bULL, 0x0405060700010203ULL);
    __m128i tmp = _mm_loadu_si128((const __m128i *)&h[0]);  /* A B C D */
    __m128i state1 = _mm_loadu_si128((const __m128i *)&h[4]); /* E F G H */
    tmp = _mm_shuffle_epi32(tmp, 0xB1);
    state1 = _mm_shuffle_epi32(state1, 0x1B);
    __m128i state0 = _mm_alignr_epi8(tmp, state1, 8); /* ABEF */
    state1 = _mm_blend_epi16(state1, tmp, 0xF0);      /* CDGH */
    const __m128i abef = state0, cdgh = state1;
    __m128i w[16];
    for (int i = 0; i < 16; i++) {
        if (i < 4)
            w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), mask);
        else
            w[i] = _mm_sha256msg2_epu32(
                _mm_add_epi32(_mm_sha256msg1_epu32(w[i - 4], w[i - 3]), _mm_alignr_epi8(w[i - 1], w[i - 2], 4)),
                w[i - 1]);
        __m128i t = _mm_add_epi32(w[i], _mm_loadu_si128((const __m128i *)&K[4 * i]));
        state1 = _mm_sha256rnds2_epu32(state1, state0, t);
        state0 = _mm_sha256rnds2_epu32(state0, state1, _mm_shuffle_epi32(t, 0x0E));
    }
    state0 = _mm_add_epi32(state0, abef);
    state1 = _mm_add_epi32(state1, cdgh);
    tmp = _mm_shuffle_epi32(state0, 0x1B);    /* A B E F */
    state1 = _mm_shuffle_epi32(state1, 0xB1); /* G H C D */
    state0 = _mm_blend_epi16(tmp, state1, 0xF0);
    state1 = _mm_alignr_epi8(state1, tmp, 8);
    _mm_storeu_si128((__m128i *)&h[0], state0);
    _mm_storeu_si128((__m128i *)&h[4], state1);
}

static int cpu_has_sha_ni(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) || !(c & bit_SSSE3))
        return 0;
    return __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
}
#endif

static void (*compress)(uint32_t h[8], const uint8_t *p) = sha256_compress;

static void sha256_init(Sha256 *s) {
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof iv);
    s->length = 0;
    s->used = 0;
}

static void sha256_update(Sha256 *s, const uint8_t *data, size_t size) {
    s->length += size;
    while (size > 0) {
        size_t take = 64 - s->used < size ? 64 - s->used : size;
        memcpy(s->block + s->used, data, take);
        s->used += take;
        data += take;
        size -= take;
        if (s->used == 64) {
            compress(s->h, s->block);
            s->used = 0;
        }
    }
}

static void sha256_final(Sha256 *s, uint8_t out[32]) {
    uint64_t bits = s->length * 8;
    s->block[s->used++] = 0x80;
    if (s->used > 56) { /* no room for the length: one more block */
        memset(s->block + s->used, 0, 64 - s->used);
        compress(s->h, s->block);
        s->used = 0;
    }
    memset(s->block + s->used, 0, 56 - s->used);
    for (int i = 0; i < 8; i++)
        s->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    compress(s->h, s->block);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
}

/* ------------------------------------------------------------------ output buffer */

typedef struct {
    char *data;
    Py_ssize_t size, capacity;
    char local[4096];
} Buffer;

static void buf_init(Buffer *b) {
    b->data = b->local;
    b->size = 0;
    b->capacity = sizeof b->local;
}

static void buf_free(Buffer *b) {
    if (b->data != b->local)
        PyMem_Free(b->data);
}

static int buf_reserve(Buffer *b, Py_ssize_t more) {
    if (b->size + more <= b->capacity)
        return 0;
    Py_ssize_t capacity = b->capacity;
    while (capacity < b->size + more)
        capacity *= 2;
    char *data = PyMem_Malloc((size_t)capacity);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memcpy(data, b->data, (size_t)b->size);
    buf_free(b);
    b->data = data;
    b->capacity = capacity;
    return 0;
}

static int buf_put(Buffer *b, const char *text, Py_ssize_t size) {
    if (buf_reserve(b, size) < 0)
        return -1;
    memcpy(b->data + b->size, text, (size_t)size);
    b->size += size;
    return 0;
}

static int buf_bytes(Buffer *b, PyObject *bytes) {
    return buf_put(b, PyBytes_AS_STRING(bytes), PyBytes_GET_SIZE(bytes));
}

/* ------------------------------------------------------------------ JSON */

enum { OK = 0, FAILED = -1, UNSUPPORTED = -2 }; /* UNSUPPORTED: the Python path writes it */

static const char HEX[] = "0123456789abcdef";

static int put_string(Buffer *b, PyObject *text) {
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &size);
    if (utf8 == NULL) { /* a lone surrogate: json writes it as an escape, orjson refuses it */
        PyErr_Clear();
        return UNSUPPORTED;
    }
    if (buf_reserve(b, size * 6 + 2) < 0)
        return FAILED;
    char *out = b->data + b->size;
    *out++ = '"';
    for (Py_ssize_t i = 0; i < size; i++) {
        unsigned char c = (unsigned char)utf8[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *out++ = (char)c;
            continue;
        }
        *out++ = '\\';
        switch (c) {
        case '"': *out++ = '"'; break;
        case '\\': *out++ = '\\'; break;
        case '\b': *out++ = 'b'; break;
        case '\f': *out++ = 'f'; break;
        case '\n': *out++ = 'n'; break;
        case '\r': *out++ = 'r'; break;
        case '\t': *out++ = 't'; break;
        default:
            *out++ = 'u'; *out++ = '0'; *out++ = '0'; *out++ = HEX[c >> 4]; *out++ = HEX[c & 15];
        }
    }
    *out++ = '"';
    b->size = out - b->data;
    return OK;
}

static int put_value(Buffer *b, PyObject *value, int depth);

static int is_decimal(PyObject *value) {
    return strcmp(Py_TYPE(value)->tp_name, "decimal.Decimal") == 0;
}

typedef struct LineWriter LineWriter;
static int put_party(LineWriter *self, Buffer *b, PyObject *party, int depth);
static int is_role(LineWriter *self, PyObject *key);

/* A dict; with ``roles`` (the document's top level) a role's party is written by put_party, and
 * with ``masked_key`` that key's value is ``masked_value`` instead of its own. */
static int put_dict(Buffer *b, PyObject *dict, int depth, LineWriter *roles, PyObject *masked_key,
                    PyObject *masked_value) {
    if (buf_put(b, "{", 1) < 0)
        return FAILED;
    Py_ssize_t position = 0, index = 0;
    PyObject *key, *value;
    while (PyDict_Next(dict, &position, &key, &value)) {
        if (!PyUnicode_CheckExact(key))
            return UNSUPPORTED;
        if (index++ && buf_put(b, ",", 1) < 0)
            return FAILED;
        int status = put_string(b, key);
        if (status != OK)
            return status;
        if (buf_put(b, ":", 1) < 0)
            return FAILED;
        if (masked_key != NULL && PyUnicode_Compare(key, masked_key) == 0)
            status = put_value(b, masked_value, depth + 1);
        else if (roles != NULL && PyDict_CheckExact(value) && is_role(roles, key))
            status = put_party(roles, b, value, depth + 1);
        else
            status = put_value(b, value, depth + 1);
        if (status != OK)
            return status;
    }
    return buf_put(b, "}", 1);
}

static int put_value(Buffer *b, PyObject *value, int depth) {
    if (depth > 128) /* the loader refuses documents nested deeper than 64 levels */
        return UNSUPPORTED;
    if (PyUnicode_CheckExact(value))
        return put_string(b, value);
    if (value == Py_None)
        return buf_put(b, "null", 4);
    if (value == Py_True)
        return buf_put(b, "true", 4);
    if (value == Py_False)
        return buf_put(b, "false", 5);
    if (PyLong_CheckExact(value)) {
        int overflow;
        long long number = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow)
            return UNSUPPORTED; /* past 64 bits: json writes it, orjson refuses it */
        if (number == -1 && PyErr_Occurred())
            return FAILED;
        char text[24];
        int size = snprintf(text, sizeof text, "%lld", number);
        return buf_put(b, text, size);
    }
    if (PyDict_CheckExact(value))
        return put_dict(b, value, depth, NULL, NULL, NULL);
    if (PyList_CheckExact(value)) {
        if (buf_put(b, "[", 1) < 0)
            return FAILED;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(value); i++) {
            if (i && buf_put(b, ",", 1) < 0)
                return FAILED;
            int status = put_value(b, PyList_GET_ITEM(value, i), depth + 1);
            if (status != OK)
                return status;
        }
        return buf_put(b, "]", 1);
    }
    if (is_decimal(value)) {
        PyObject *text = PyObject_Str(value);
        if (text == NULL)
            return FAILED;
        int status = put_string(b, text);
        Py_DECREF(text);
        return status;
    }
    return UNSUPPORTED; /* floats, dates, tuples, subclasses: the Python path */
}

/* ------------------------------------------------------------------ the record's reasons */

/* render.record_reasons in C: for each (slot, branch) the decision took, the table's entry
 * table[slot][branch] -- None (the branch makes no reason) or (fails, the reason's record in
 * UTF-8) -- failing reasons first, then the others, each group in slot order. */
#define MAX_REASONS 1024

typedef struct {
    long slot;
    PyObject *entry;
} Pick;

static int put_reasons(Buffer *b, PyObject *branch_of, PyObject *table) {
    Pick picks[MAX_REASONS];
    Py_ssize_t count = 0, position = 0;
    PyObject *key, *value;
    while (PyDict_Next(branch_of, &position, &key, &value)) {
        if (!PyLong_CheckExact(key) || !PyLong_CheckExact(value) || count == MAX_REASONS)
            return UNSUPPORTED;
        int overflow_slot, overflow_branch;
        long slot = PyLong_AsLongAndOverflow(key, &overflow_slot);
        long branch = PyLong_AsLongAndOverflow(value, &overflow_branch);
        if (overflow_slot || overflow_branch || slot < 0 || slot >= PyTuple_GET_SIZE(table))
            return UNSUPPORTED;
        PyObject *row = PyTuple_GET_ITEM(table, slot);
        if (!PyTuple_CheckExact(row) || branch < 0 || branch >= PyTuple_GET_SIZE(row))
            return UNSUPPORTED;
        PyObject *entry = PyTuple_GET_ITEM(row, branch);
        if (entry == Py_None)
            continue;
        if (!PyTuple_CheckExact(entry) || PyTuple_GET_SIZE(entry) != 2 || !PyBytes_Check(PyTuple_GET_ITEM(entry, 1)))
            return UNSUPPORTED;
        Py_ssize_t at = count++; /* insertion sort by slot: a few dozen rules */
        while (at > 0 && picks[at - 1].slot > slot) {
            picks[at] = picks[at - 1];
            at--;
        }
        picks[at].slot = slot;
        picks[at].entry = entry;
    }
    if (buf_put(b, "[", 1) < 0)
        return FAILED;
    int first = 1;
    for (int failing = 1; failing >= 0; failing--) {
        for (Py_ssize_t i = 0; i < count; i++) {
            if ((PyTuple_GET_ITEM(picks[i].entry, 0) == Py_True) != failing)
                continue;
            if ((!first && buf_put(b, ",", 1) < 0) || buf_bytes(b, PyTuple_GET_ITEM(picks[i].entry, 1)) < 0)
                return FAILED;
            first = 0;
        }
    }
    return buf_put(b, "]", 1);
}

/* ------------------------------------------------------------------ ids and time */

static uint8_t pool[4096];
static size_t pool_left = 0; /* unused random bytes at the end of the pool */

static void forget_pool(void) { pool_left = 0; } /* a forked child must not reuse its parent's ids */

static int put_uuid4(Buffer *b, char id[36]) {
    if (pool_left < 16) {
        size_t got = 0;
        while (got < sizeof pool) {
            ssize_t n = getrandom(pool + got, sizeof pool - got, 0);
            if (n < 0) {
                PyErr_SetFromErrno(PyExc_OSError);
                return FAILED;
            }
            got += (size_t)n;
        }
        pool_left = sizeof pool;
    }
    uint8_t *r = pool + sizeof pool - pool_left;
    pool_left -= 16;
    r[6] = (uint8_t)((r[6] & 0x0f) | 0x40); /* version 4 */
    r[8] = (uint8_t)((r[8] & 0x3f) | 0x80); /* variant 10 */
    char *out = id;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            *out++ = '-';
        *out++ = HEX[r[i] >> 4];
        *out++ = HEX[r[i] & 15];
    }
    return buf_put(b, id, 36);
}

static int put_timestamp(Buffer *b) {
    struct timespec now;
    struct tm utc;
    clock_gettime(CLOCK_REALTIME, &now);
    time_t second = now.tv_sec;
    gmtime_r(&second, &utc);
    char text[40];
    int size = snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%06ld+00:00", utc.tm_year + 1900,
                        utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, now.tv_nsec / 1000);
    return buf_put(b, text, size);
}

/* ------------------------------------------------------------------ LineWriter */

struct LineWriter {
    PyObject_HEAD
    Sha256 inner, outer; /* HMAC's keyed states, absorbed once */
    PyObject *head, *timestamp, *eligible[2], *payment, *end, *roles[2], *id_key;
};

static int pseudonym(LineWriter *self, PyObject *value, PyObject **out) {
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(value, &size);
    if (utf8 == NULL) {
        PyErr_Clear();
        return UNSUPPORTED;
    }
    Sha256 inner = self->inner, outer = self->outer;
    uint8_t digest[32];
    sha256_update(&inner, (const uint8_t *)utf8, (size_t)size);
    sha256_final(&inner, digest);
    sha256_update(&outer, digest, 32);
    sha256_final(&outer, digest);
    char text[26] = "h:";
    for (int i = 0; i < 12; i++) {
        text[2 + 2 * i] = HEX[digest[i] >> 4];
        text[3 + 2 * i] = HEX[digest[i] & 15];
    }
    *out = PyUnicode_FromStringAndSize(text, 26);
    return *out == NULL ? FAILED : OK;
}

static int is_role(LineWriter *self, PyObject *key) {
    return PyUnicode_Compare(key, self->roles[0]) == 0 || PyUnicode_Compare(key, self->roles[1]) == 0;
}

/* A party (authorizer, beneficiary): its "id", when it is text, written as its pseudonym. */
static int put_party(LineWriter *self, Buffer *b, PyObject *party, int depth) {
    PyObject *id = PyDict_GetItemWithError(party, self->id_key);
    if (id == NULL && PyErr_Occurred())
        return FAILED;
    if (id == NULL || !PyUnicode_Check(id))
        return put_dict(b, party, depth, NULL, NULL, NULL);
    if (!PyUnicode_CheckExact(id))
        return UNSUPPORTED;
    PyObject *hidden;
    int status = pseudonym(self, id, &hidden);
    if (status != OK)
        return status;
    status = put_dict(b, party, depth, NULL, self->id_key, hidden);
    Py_DECREF(hidden);
    return status;
}

/* The facts: the document with each role's "id" (text) written as its pseudonym. */
static int put_facts(LineWriter *self, Buffer *b, PyObject *document) {
    return PyDict_CheckExact(document) ? put_dict(b, document, 0, self, NULL, NULL) : UNSUPPORTED;
}

static PyObject *LineWriter_line(LineWriter *self, PyObject *const *args, Py_ssize_t nargs) {
    /* line(document, parts, date, eligible, branch_of, payment) -> (id, bytes) | None, where parts
     * is (to the date, to the facts, to the record's date, to eligible: bytes; the reasons' table) */
    PyObject *parts = nargs == 6 ? args[1] : NULL;
    int shaped = parts != NULL && PyTuple_CheckExact(parts) && PyTuple_GET_SIZE(parts) == 5
                 && PyTuple_CheckExact(PyTuple_GET_ITEM(parts, 4));
    for (Py_ssize_t i = 0; shaped && i < 4; i++)
        shaped = PyBytes_Check(PyTuple_GET_ITEM(parts, i));
    if (!shaped || !PyBytes_Check(args[2]) || !PyDict_CheckExact(args[4])
        || (args[5] != Py_None && !PyBytes_Check(args[5]))) {
        PyErr_SetString(PyExc_TypeError, "line(document, parts: (bytes, bytes, bytes, bytes, tuple), date: bytes, "
                                         "eligible, branch_of: dict, payment: bytes | None)");
        return NULL;
    }
    int eligible = PyObject_IsTrue(args[3]);
    if (eligible < 0)
        return NULL;
    PyObject *date = args[2], *payment = args[5];
    Buffer b;
    buf_init(&b);
    char id[36];
    int status = FAILED;
    if (buf_bytes(&b, self->head) == 0 && put_uuid4(&b, id) == 0 && buf_bytes(&b, self->timestamp) == 0
        && put_timestamp(&b) == 0 && buf_bytes(&b, PyTuple_GET_ITEM(parts, 0)) == 0 && buf_bytes(&b, date) == 0
        && buf_bytes(&b, PyTuple_GET_ITEM(parts, 1)) == 0) {
        status = put_facts(self, &b, args[0]);
        if (status == OK)
            status = buf_bytes(&b, PyTuple_GET_ITEM(parts, 2)) || buf_bytes(&b, date)
                             || buf_bytes(&b, PyTuple_GET_ITEM(parts, 3)) || buf_bytes(&b, self->eligible[eligible])
                         ? FAILED
                         : put_reasons(&b, args[4], PyTuple_GET_ITEM(parts, 4));
        if (status == OK) {
            int failed = (payment != Py_None && (buf_bytes(&b, self->payment) || buf_bytes(&b, payment)))
                         || buf_bytes(&b, self->end);
            status = failed ? FAILED : OK;
        }
    }
    PyObject *result = NULL;
    if (status == OK) {
        PyObject *line = PyBytes_FromStringAndSize(b.data, b.size);
        PyObject *text = line ? PyUnicode_FromStringAndSize(id, 36) : NULL;
        result = text ? PyTuple_Pack(2, text, line) : NULL;
        Py_XDECREF(text);
        Py_XDECREF(line);
    } else if (status == UNSUPPORTED) {
        result = Py_NewRef(Py_None);
    }
    buf_free(&b);
    return result;
}

static int LineWriter_init(LineWriter *self, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"salt", "head", "timestamp", "ineligible", "eligible", "payment", "end", NULL};
    Py_buffer salt;
    PyObject *head, *timestamp, *no, *yes, *payment, *end;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "y*SSSSSS", names, &salt, &head, &timestamp, &no, &yes,
                                     &payment, &end))
        return -1;
    uint8_t key[64] = {0};
    if (salt.len > 64) { /* HMAC: a key longer than the block is hashed first */
        Sha256 s;
        sha256_init(&s);
        sha256_update(&s, salt.buf, (size_t)salt.len);
        sha256_final(&s, key);
    } else {
        memcpy(key, salt.buf, (size_t)salt.len);
    }
    PyBuffer_Release(&salt);
    uint8_t pad[64];
    sha256_init(&self->inner);
    sha256_init(&self->outer);
    for (int i = 0; i < 64; i++)
        pad[i] = key[i] ^ 0x36;
    sha256_update(&self->inner, pad, 64);
    for (int i = 0; i < 64; i++)
        pad[i] = key[i] ^ 0x5c;
    sha256_update(&self->outer, pad, 64);
    PyObject *values[] = {head, timestamp, no, yes, payment, end};
    PyObject **slots[] = {&self->head, &self->timestamp, &self->eligible[0], &self->eligible[1], &self->payment,
                          &self->end};
    for (int i = 0; i < 6; i++)
        Py_XSETREF(*slots[i], Py_NewRef(values[i]));
    Py_XSETREF(self->roles[0], PyUnicode_InternFromString("authorizer"));
    Py_XSETREF(self->roles[1], PyUnicode_InternFromString("beneficiary"));
    Py_XSETREF(self->id_key, PyUnicode_InternFromString("id"));
    return self->roles[0] && self->roles[1] && self->id_key ? 0 : -1;
}

static void LineWriter_dealloc(LineWriter *self) {
    PyObject **slots[] = {&self->head, &self->timestamp, &self->eligible[0], &self->eligible[1], &self->payment,
                          &self->end, &self->roles[0], &self->roles[1], &self->id_key};
    for (size_t i = 0; i < sizeof slots / sizeof *slots; i++)
        Py_CLEAR(*slots[i]);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *pseudonym_of(LineWriter *self, PyObject *value) {
    /* the pseudonym alone, for the tests: the same as privacy.Pseudonyms(salt)(value) */
    if (!PyUnicode_Check(value)) {
        PyErr_SetString(PyExc_TypeError, "pseudonym(text)");
        return NULL;
    }
    PyObject *out = NULL;
    int status = pseudonym(self, value, &out);
    if (status == UNSUPPORTED)
        Py_RETURN_NONE;
    return out;
}

static PyMethodDef LineWriter_methods[] = {
    {"line", (PyCFunction)(void (*)(void))LineWriter_line, METH_FASTCALL,
     "line(document, parts, date, eligible, branch_of, payment) -> (decision id, line) or None"},
    {"pseudonym", (PyCFunction)pseudonym_of, METH_O, "pseudonym(text) -> 'h:' + 24 hex digits"},
    {NULL, NULL, 0, NULL}};

static PyTypeObject LineWriterType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "engine.runtime._logline.LineWriter",
    .tp_basicsize = sizeof(LineWriter),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "LineWriter(salt, head, timestamp, ineligible, eligible, payment, end): compact log lines",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)LineWriter_init,
    .tp_dealloc = (destructor)LineWriter_dealloc,
    .tp_methods = LineWriter_methods,
};

static PyObject *use_portable(PyObject *module, PyObject *flag) {
    /* use_portable(True): SHA-256 in portable C even on a CPU with SHA extensions (the tests run
     * both); returns whether the SHA extensions were in use before. */
    (void)module;
    int portable = PyObject_IsTrue(flag);
    if (portable < 0)
        return NULL;
    int was = compress != sha256_compress;
    compress = sha256_compress;
#ifdef HAVE_SHA_NI_CODE
    if (!portable && cpu_has_sha_ni())
        compress = sha256_compress_ni;
#endif
    return PyBool_FromLong(was);
}

static PyMethodDef module_methods[] = {
    {"use_portable", use_portable, METH_O, "use_portable(flag) -> bool: portable SHA-256 (True) or the CPU's"},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, .m_name = "_logline",
                                    .m_doc = "The decision log's compact line in C.", .m_size = -1,
                                    .m_methods = module_methods};

PyMODINIT_FUNC PyInit__logline(void) {
    if (PyType_Ready(&LineWriterType) < 0)
        return NULL;
    pthread_atfork(NULL, NULL, forget_pool);
#ifdef HAVE_SHA_NI_CODE
    if (cpu_has_sha_ni())
        compress = sha256_compress_ni;
#endif
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "LineWriter", (PyObject *)&LineWriterType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
