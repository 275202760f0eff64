/* libFuzzer harness: safetensors_parse on arbitrary bytes; when a file is
 * accepted, every tensor must load into a Tensor of its stored shape, and a
 * wrong shape must be refused. Any crash, sanitizer report or abort is a bug. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    NnError err;
    SafeTensors *st = safetensors_parse(data, size, &err);
    if (!st) {
        if (!err.msg[0]) abort(); /* a refusal always says why */
        return 0;
    }
    for (int i = 0; i < safetensors_count(st); i++) {
        const char *name = safetensors_name(st, i);
        if (safetensors_find(st, name) != i) abort();
        const int64_t *shape;
        int nd = safetensors_shape(st, i, &shape);
        size_t bytes;
        safetensors_raw(st, i, &bytes);
        if (nd > TENSOR_MAX_DIMS) continue;
        Tensor *t = tensor_zeros(nd, shape);
        if ((size_t)t->numel * (size_t)st_dtype_size(safetensors_dtype(st, i)) != bytes) abort();
        if (safetensors_load_into(st, name, t, &err) != 0) abort();
        tensor_free(t);
        if (nd < TENSOR_MAX_DIMS) { /* one more dimension of size 1: a different shape */
            int64_t s2[TENSOR_MAX_DIMS];
            memcpy(s2, shape, (size_t)nd * sizeof *s2);
            s2[nd] = 1;
            Tensor *w = tensor_zeros(nd + 1, s2);
            if (safetensors_load_into(st, name, w, &err) != -1) abort();
            tensor_free(w);
        }
    }
    for (int i = 0; i < safetensors_meta_count(st); i++) {
        const char *k, *v;
        safetensors_meta_at(st, i, &k, &v);
        if (safetensors_meta(st, k) == NULL) abort();
    }
    safetensors_free(st);
    return 0;
}
