// exec.c — the executor: plans the buffers of a graph once, then runs
// forward and backward passes over batches without allocating.
//
// Memory plan (made once in dc_runtime_new, like llm.c carving activations
// out of one allocation): with backward, every node's output keeps its own
// buffer (backward reads them all); a forward-only runtime shares output
// buffers by liveness instead (an output lives from its node's step to its
// last consumer's), which is what keeps a served ResNet's batch of 256 small.
// Gradient buffers are shared by liveness likewise:
// the gradient of node p's output is born when its last consumer (in
// topological order) runs backward, and dies once p's own backward has
// read it; a greedy first-fit over backward time assigns each such interval
// to a pool buffer, so a ResNet keeps a handful of gradient buffers instead
// of one per node.
//
// Threads take contiguous sample slices [lo, hi) and run the nodes
// independently, meeting only at coupled nodes (BatchNorm in training).
// Because two threads can be at different nodes at the same moment, a
// thread's part of a shared buffer starts at lo * (that buffer's per-sample
// capacity), whatever node it holds, so threads never overlap; within its
// part a slice is contiguous (N, size), which is all a kernel sees.
//
// ReLU fusion (unless DC_RT_NO_FUSE): a relu that is the only reader of a
// node whose kind can apply it as an epilogue (convolution, BatchNorm, add)
// is folded into that node: the node writes max(0, .) straight into the
// relu's output buffer and the relu's forward is skipped. Backward is
// untouched: the relu's backward needs only its own output, and those
// nodes' backward never reads their own output. One pass over memory and
// one activation buffer less per pair, the same bits.
//
// Add fusion (forward-only plans that keep no node's output, unless
// DC_RT_NO_FUSE): a two-input add, one of whose inputs is a convolution that
// feeds nothing else and runs after the other input is ready, is folded
// into that convolution: it writes conv + bias + the other input (and the
// add's fused relu) into the add's buffer, one rounded add, the add node's
// bits. A folded resnet's block then ends in its second convolution: the
// batch-1 Winograd kernel adds the shortcut as its outputs leave the
// transform (in cache, and shared among threads with the convolution instead
// of an add node on one thread); any other kernel adds it in a pass right
// after, in the same node (dc_conv_plan_takes_res).
//
// Gradients with several consumers: consumers run backward in reverse
// topological order; the first to reach a producer overwrites its gradient
// buffer, the later ones write into a per-thread scratch slice and add it
// in (plan-time flags), so the kernels keep their overwrite contract.
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include "core/core.h"
#include "layers/layers.h"
#include "model/model.h"

struct dc_runtime {
    dc_graph g;
    int max_n, nthreads;
    bool shares;           // batches under nthreads run forward_shared (eval, forward-only, a node can share)
    dc_mode mode;
    unsigned flags;
    int chunk;             // eval-mode forward: samples per pass through the nodes (0: the slice)
    const float *params;
    float *grads, *state;
    const bool *frozen;    // (n_nodes) nodes held fixed in training, or NULL
    int n_classes;
    size_t in_size, biggest;
    size_t *size;          // (n_nodes) per-sample output sizes
    int *in_sizes;         // (n_nodes * MAX_IN) per-sample sizes of each node's inputs
    float **acts;          // (n_nodes) outputs; slice [lo,hi) at acts[i] + lo*astride[i]
    size_t *astride;       // (n_nodes) per-sample stride of node i's slices
    bool *aown;            // (n_nodes) acts[i] is its own allocation (else in apool or aliased)
    int *fuse_into;        // (n_nodes) the node whose buffer node i writes (a relu, or an add
                           // and its relu, fused into it), or -1
    bool *relu_out;        // (n_nodes) node i applies the relu fused into it
    int *res_of;           // (n_nodes) conv i adds node res_of[i]'s output (the add fused into it), or -1
    bool *skip;            // (n_nodes) a relu or add fused into its input: not run forward
    int n_fused, n_res_fused;
    float **apool;         // (n_apool) shared output buffers (forward-only plans)
    int n_apool;
    void **caches;         // (n_nodes) per-sample caches, linear in samples
    char **tcaches;        // (n_nodes) nthreads copies of tcache_bytes
    double **parts;        // (n_nodes) coupled nodes: 2 passes x nthreads x part_doubles partials
    double **totals;       // (n_nodes) coupled nodes: nthreads x part_doubles totals
    // gradient plan (DC_RT_BACKWARD)
    int *gslot;            // (n_nodes) pool buffer of node i's gradient, -1: none (input/output)
    size_t *gcap;          // (n_slots) per-sample capacity of each pool buffer
    float **gpool;         // (n_slots) pool buffers (max_n, gcap)
    int n_slots;
    bool *accum;           // (n_nodes * MAX_IN) slot k of node i adds into its producer's gradient
    float *scratch;        // (max_n, biggest) where accumulating consumers write first
    bool *wants;           // (n_nodes) this backward needs node i's output gradient
    float **din;           // (n_nodes) gradient buffers of input nodes > 0 (NULL: not wanted)
    float **pre;           // (n_nodes) what node i derived from the bound parameters
                           // (dc_runtime_prepare), or NULL
    float *probs;          // (max_n, n_classes)
    float *dlogits;        // (max_n, n_classes)
    float *tscratch;       // (nthreads, scratch_per) kernel scratch, each thread its own
    size_t scratch_per;    // floats per thread (a multiple of 16)
    float *tgrads;         // (nthreads-1, n_params) private gradients of threads 1..T-1
    float *sgrads;         // (nthreads, n_params) scratch for DP's norm pass, lazily
    double *sq;            // (max_n) per-sample squared norms, lazily
};

// Batch-1 node sharing needs this many multiply-adds a sample (see dc_runtime_new).
#define SHARE_MIN_MACS ((int64_t)4 << 20)

// Greedy first-fit over a pool: the smallest free buffer that fits, else
// the largest free one grown, else a new one. busy[s] < 0: free.
static int pool_take(size_t *cap, int *busy, int *n_slots, size_t need, int holder) {
    int best = -1;
    for (int s = 0; s < *n_slots; s++)
        if (busy[s] < 0 && cap[s] >= need && (best < 0 || cap[s] < cap[best])) best = s;
    if (best < 0)
        for (int s = 0; s < *n_slots; s++)
            if (busy[s] < 0 && (best < 0 || cap[s] > cap[best])) best = s;
    if (best < 0) best = (*n_slots)++;
    if (cap[best] < need) cap[best] = need;
    busy[best] = holder;
    return best;
}

// The add fused into node i, or -1: the node i writes for (its holder), or
// the holder's input when the holder is the relu fused into that add.
static int fused_add(const dc_runtime *rt, int i) {
    if (rt->res_of[i] < 0) return -1;
    const int h = rt->fuse_into[i];
    return (rt->g.nodes[h].op->flags & DC_OP_SUM) ? h : rt->g.nodes[h].in[0];
}

// Forward-only plans: node outputs share buffers by liveness. The input and
// the logits keep their own (callers fill and read them contiguously).
static dc_status plan_activations(dc_runtime *rt, dc_error *err) {
    const int nn = rt->g.n_nodes;
    int *last_use = malloc(sizeof(int) * (size_t)nn), *busy = malloc(sizeof(int) * (size_t)nn);
    int *slot = malloc(sizeof(int) * (size_t)nn);
    size_t *cap = calloc((size_t)nn, sizeof(size_t));
    dc_status st = DC_OK;
    if (!last_use || !busy || !slot || !cap) st = dc_fail(err, DC_ERR_NOMEM, "runtime: out of memory");
    for (int i = 0; !st && i < nn; i++) last_use[i] = -1, busy[i] = -1, slot[i] = -1;
    for (int i = 1; !st && i < nn; i++)
        for (int k = 0; k < rt->g.nodes[i].n_in; k++) last_use[rt->g.nodes[i].in[k]] = i;
    for (int i = 1; !st && i < nn - 1; i++) {
        if (rt->g.nodes[i].op->flags & DC_OP_INPUT) continue; // the caller fills it: its own buffer
        if (rt->skip[i]) continue;                           // written by the node it is fused into
        const int holder = rt->fuse_into[i] >= 0 ? rt->fuse_into[i] : i; // a fused pair shares the relu's buffer
        if (holder == nn - 1) continue;                      // the logits keep their own buffer
        slot[i] = pool_take(cap, busy, &rt->n_apool, rt->size[i], holder);
        if (holder != i) slot[holder] = slot[i];
        // inputs read for the last time here are free after this node, and so
        // are those of an add fused into it (the relu fused after either reads
        // only what they wrote)
        for (int j = 0; j < 2; j++) {
            const int a = j == 0 ? i : fused_add(rt, i);
            if (a < 0) break;
            for (int k = 0; k < rt->g.nodes[a].n_in; k++) {
                int p = rt->g.nodes[a].in[k];
                if (p != i && slot[p] >= 0 && last_use[p] == a) busy[slot[p]] = -1;
            }
        }
    }
    if (!st && !(rt->apool = calloc((size_t)(rt->n_apool ? rt->n_apool : 1), sizeof(float *))))
        st = dc_fail(err, DC_ERR_NOMEM, "runtime: out of memory");
    for (int s = 0; !st && s < rt->n_apool; s++)
        if (!(rt->apool[s] = dc_alloc(sizeof(float) * (size_t)rt->max_n * cap[s])))
            st = dc_fail(err, DC_ERR_NOMEM, "out of memory for activations of batch %d", rt->max_n);
    for (int i = 0; !st && i < nn; i++)
        if (slot[i] >= 0) {
            rt->acts[i] = rt->apool[slot[i]];
            rt->astride[i] = cap[slot[i]];
        }
    free(last_use);
    free(busy);
    free(slot);
    free(cap);
    return st;
}

static size_t cache_bytes(const dc_node *n, int N) {
    return n->op->cache_bytes ? n->op->cache_bytes(n, N) : 0;
}

// Gradient lifetimes onto pool buffers (pool_take). Backward runs
// nodes n-1 .. 1; node p's gradient is live from the step of its last
// consumer down to step p (inclusive).
static dc_status plan_gradients(dc_runtime *rt, dc_error *err) {
    const int nn = rt->g.n_nodes;
    int *last_use = malloc(sizeof(int) * (size_t)nn);
    int *busy = malloc(sizeof(int) * (size_t)nn); // slot -> node holding it, -1 free
    rt->gslot = malloc(sizeof(int) * (size_t)nn);
    rt->gcap = calloc((size_t)nn, sizeof(size_t));
    rt->accum = calloc((size_t)nn * DC_NODE_MAX_IN, sizeof(bool));
    rt->wants = calloc((size_t)nn, sizeof(bool));
    if (!last_use || !busy || !rt->gslot || !rt->gcap || !rt->accum || !rt->wants) {
        free(last_use);
        free(busy);
        return dc_fail(err, DC_ERR_NOMEM, "runtime: out of memory");
    }
    for (int i = 0; i < nn; i++) last_use[i] = -1, rt->gslot[i] = -1, busy[i] = -1;
    bool *written = calloc((size_t)nn, sizeof(bool));
    if (!written) {
        free(last_use);
        free(busy);
        return dc_fail(err, DC_ERR_NOMEM, "runtime: out of memory");
    }
    for (int i = 1; i < nn; i++)
        for (int k = 0; k < rt->g.nodes[i].n_in; k++) last_use[rt->g.nodes[i].in[k]] = i;
    for (int i = nn - 1; i >= 1; i--) {
        const dc_node *n = &rt->g.nodes[i];
        // inputs born at this step get a buffer (node 0's gradient is the caller's dinput)
        for (int k = 0; k < n->n_in; k++) {
            int p = n->in[k];
            rt->accum[i * DC_NODE_MAX_IN + k] = written[p];
            written[p] = true;
            // inputs' gradients are the caller's buffers (dinput, din)
            if ((rt->g.nodes[p].op->flags & DC_OP_INPUT) || rt->gslot[p] >= 0) continue;
            rt->gslot[p] = pool_take(rt->gcap, busy, &rt->n_slots, rt->size[p], p);
        }
        // node i's own gradient dies after its backward
        if (rt->gslot[i] >= 0) busy[rt->gslot[i]] = -1;
    }
    free(written);
    free(last_use);
    free(busy);
    rt->gpool = calloc((size_t)(rt->n_slots ? rt->n_slots : 1), sizeof(float *));
    if (!rt->gpool) return dc_fail(err, DC_ERR_NOMEM, "runtime: out of memory");
    for (int s = 0; s < rt->n_slots; s++)
        if (!(rt->gpool[s] = dc_alloc(sizeof(float) * (size_t)rt->max_n * rt->gcap[s])))
            return dc_fail(err, DC_ERR_NOMEM, "runtime: out of memory for gradients of batch %d", rt->max_n);
    if (!(rt->scratch = dc_alloc(sizeof(float) * (size_t)rt->max_n * rt->biggest)))
        return dc_fail(err, DC_ERR_NOMEM, "runtime: out of memory for gradients of batch %d", rt->max_n);
    return DC_OK;
}

dc_status dc_runtime_new(dc_runtime **out, const dc_graph *g, int max_n, dc_mode mode, unsigned flags,
                         int nthreads, dc_error *err) {
    *out = NULL;
    if (max_n < 1) return dc_fail(err, DC_ERR_ARG, "runtime: batch %d must be >= 1", max_n);
    dc_runtime *rt = calloc(1, sizeof *rt);
    if (!rt) return dc_fail(err, DC_ERR_NOMEM, "runtime: out of memory");
    rt->g = *g;
    rt->max_n = max_n;
    rt->mode = mode;
    rt->flags = flags;
    if (nthreads <= 0) nthreads = dc_default_threads();
    // more threads than samples only where they can share nodes instead
    // (forward-only eval runtimes: forward_shared), and only for a network
    // whose nodes are big enough to pay for a barrier each: LeNet-5 (0.42 M
    // MACs a sample, 14 us an image on one core) ran batch 1 at 35-59 K
    // images/s on 2 threads against 71 K on one (Zen 4 guest; 3.3 K with
    // OMP_WAIT_POLICY=PASSIVE), ResNet-20 (31 M) gains 1.4-1.6x
    bool shares = false;
    int64_t macs = 0;
    for (int i = 0; i < g->n_nodes; i++) {
        shares = shares || g->nodes[i].op->forward_share;
        macs += dc_node_macs(&g->nodes[i]);
    }
    shares = shares && mode == DC_MODE_EVAL && !(flags & DC_RT_BACKWARD) && macs >= SHARE_MIN_MACS;
    rt->nthreads = nthreads > max_n && !shares ? max_n : nthreads;
    rt->shares = shares;
    const int nn = g->n_nodes, T = rt->nthreads;
    const dc_node *last = &g->nodes[nn - 1];
    rt->n_classes = (int)dc_node_size(last);
    rt->in_size = dc_node_size(&g->nodes[0]);
    rt->size = calloc((size_t)nn, sizeof(size_t));
    rt->acts = calloc((size_t)nn, sizeof(float *));
    rt->fuse_into = malloc(sizeof(int) * (size_t)nn);
    rt->res_of = malloc(sizeof(int) * (size_t)nn);
    rt->relu_out = calloc((size_t)nn, sizeof(bool));
    rt->skip = calloc((size_t)nn, sizeof(bool));
    rt->astride = calloc((size_t)nn, sizeof(size_t));
    rt->aown = calloc((size_t)nn, sizeof(bool));
    rt->caches = calloc((size_t)nn, sizeof(void *));
    rt->tcaches = calloc((size_t)nn, sizeof(char *));
    rt->parts = calloc((size_t)nn, sizeof(double *));
    rt->din = calloc((size_t)nn, sizeof(float *));
    rt->totals = calloc((size_t)nn, sizeof(double *));
    rt->in_sizes = calloc((size_t)nn * DC_NODE_MAX_IN, sizeof(int));
    dc_status st = DC_OK;
    if (!rt->size || !rt->fuse_into || !rt->res_of || !rt->relu_out || !rt->skip || !rt->din || !rt->acts || !rt->astride || !rt->aown || !rt->caches || !rt->tcaches || !rt->parts || !rt->totals || !rt->in_sizes)
        st = dc_fail(err, DC_ERR_NOMEM, "runtime: out of memory");
    // activations: max_n x size must not overflow (sizes are bounded at build time)
    double bytes = 0;
    for (int i = 0; !st && i < nn; i++) {
        const dc_node *n = &g->nodes[i];
        rt->size[i] = dc_node_size(n);
        if (rt->size[i] > rt->biggest) rt->biggest = rt->size[i];
        for (int k = 0; k < n->n_in; k++) rt->in_sizes[i * DC_NODE_MAX_IN + k] = (int)dc_node_size(&g->nodes[n->in[k]]);
        bytes += 4.0 * (double)max_n * (double)rt->size[i] + (double)cache_bytes(n, max_n);
    }
    // relu fusion: the relu must be its input's only reader
    for (int i = 0; !st && i < nn; i++) rt->fuse_into[i] = rt->res_of[i] = -1;
    if (!st && !(flags & DC_RT_NO_FUSE)) {
        int *readers = calloc((size_t)nn, sizeof(int));
        if (!readers) st = dc_fail(err, DC_ERR_NOMEM, "runtime: out of memory");
        for (int i = 1; !st && i < nn; i++)
            for (int k = 0; k < g->nodes[i].n_in; k++) readers[g->nodes[i].in[k]]++;
        for (int i = 1; !st && i < nn; i++) {
            const dc_node *r = &g->nodes[i];
            if (!(r->op->flags & DC_OP_RELU) || r->n_in != 1) continue;
            const int x = r->in[0];
            if (x < 1 || !(g->nodes[x].op->flags & DC_OP_RELU_EPILOGUE) || readers[x] != 1 || rt->fuse_into[x] >= 0)
                continue;
            rt->fuse_into[x] = i;
            rt->relu_out[x] = true;
            rt->skip[i] = true;
            rt->n_fused++;
        }
        // add fusion: an add's convolution input, the later of two, runs the add
        const bool keeps = flags & (DC_RT_BACKWARD | DC_RT_KEEP_ALL);
        for (int a = 1; !st && !keeps && a < nn; a++) {
            const dc_node *r = &g->nodes[a];
            if (!(r->op->flags & DC_OP_SUM) || r->n_in != 2 || r->in[0] == r->in[1]) continue;
            int c = -1, o = -1;
            for (int k = 0; k < 2; k++) {
                const int x = r->in[k], other = r->in[1 - k];
                if (x < 1 || !(g->nodes[x].op->flags & DC_OP_RES_EPILOGUE) || readers[x] != 1 ||
                    rt->fuse_into[x] >= 0 || other >= x || x <= c)
                    continue;
                c = x, o = other;
            }
            if (c < 0) continue;
            rt->res_of[c] = o;
            rt->relu_out[c] = rt->relu_out[a];
            rt->fuse_into[c] = rt->fuse_into[a] >= 0 ? rt->fuse_into[a] : a;
            rt->skip[a] = true;
            rt->n_res_fused++;
        }
        free(readers);
    }
    if (!st && bytes > 64.0 * (1ull << 30))
        st = dc_fail(err, DC_ERR_NOMEM, "runtime: a batch of %d needs %.1f GiB of activations; use a smaller batch",
                     max_n, bytes / (1ull << 30));
    const bool pooled = !(flags & (DC_RT_BACKWARD | DC_RT_KEEP_ALL)) && nn > 2;
    if (!st && pooled) st = plan_activations(rt, err);
    for (int i = 0; !st && i < nn; i++) {
        const dc_node *n = &g->nodes[i];
        if (!rt->acts[i] && rt->fuse_into[i] < 0) { // a fused node's output is aliased below
            if (!(rt->acts[i] = dc_alloc(sizeof(float) * (size_t)max_n * rt->size[i]))) goto nomem;
            rt->aown[i] = true;
            rt->astride[i] = rt->size[i];
        }
        size_t cb = cache_bytes(n, max_n);
        if (cb && !(rt->caches[i] = dc_alloc(cb))) goto nomem;
        size_t tb = n->op->tcache_bytes ? n->op->tcache_bytes(n) : 0;
        if (tb && !(rt->tcaches[i] = dc_alloc(tb * (size_t)T))) goto nomem;
        size_t pd = n->op->part_doubles ? n->op->part_doubles(n) : 0;
        if (pd && (!(rt->parts[i] = dc_alloc(sizeof(double) * pd * 2 * (size_t)T)) ||
                   !(rt->totals[i] = dc_alloc(sizeof(double) * pd * (size_t)T))))
            goto nomem;
    }
    for (int i = 0; !st && i < nn; i++)
        if (rt->fuse_into[i] >= 0) { // the relu's buffer
            rt->acts[i] = rt->acts[rt->fuse_into[i]];
            rt->astride[i] = rt->astride[rt->fuse_into[i]];
            rt->aown[i] = false;
        }
    // kernel scratch: the most any node needs for a thread's slice
    const int slice_max = (max_n + T - 1) / T;
    for (int i = 0; !st && i < nn; i++) {
        const dc_node *n = &g->nodes[i];
        size_t b = n->op->scratch_bytes ? n->op->scratch_bytes(n, slice_max) : 0;
        size_t f = ((b + 3) / 4 + 15) & ~(size_t)15;
        if (f > rt->scratch_per) rt->scratch_per = f;
    }
    if (!st && rt->scratch_per && !(rt->tscratch = dc_alloc(sizeof(float) * rt->scratch_per * (size_t)T))) goto nomem;
    if (!st && (flags & DC_RT_BACKWARD)) {
        st = plan_gradients(rt, err);
        if (!st && !(rt->dlogits = dc_alloc(sizeof(float) * (size_t)max_n * rt->n_classes))) goto nomem;
        if (!st && T > 1 && !(rt->tgrads = dc_alloc(sizeof(float) * (size_t)(T - 1) * (g->n_params ? g->n_params : 1))))
            goto nomem;
    }
    if (!st && !(rt->probs = dc_alloc(sizeof(float) * (size_t)max_n * rt->n_classes))) goto nomem;
    if (st) {
        dc_runtime_free(rt);
        return st;
    }
    *out = rt;
    return DC_OK;
nomem:
    dc_runtime_free(rt);
    return dc_fail(err, DC_ERR_NOMEM, "out of memory for activations of batch %d", max_n);
}

static void drop_prepared(dc_runtime *rt) {
    if (!rt->pre) return;
    for (int i = 0; i < rt->g.n_nodes; i++) dc_free(rt->pre[i]);
    free(rt->pre);
    rt->pre = NULL;
}

void dc_runtime_free(dc_runtime *rt) {
    if (!rt) return;
    drop_prepared(rt);
    for (int i = 0; i < rt->g.n_nodes; i++) {
        if (rt->acts && rt->aown && rt->aown[i]) dc_free(rt->acts[i]);
        if (rt->caches) dc_free(rt->caches[i]);
        if (rt->tcaches) dc_free(rt->tcaches[i]);
        if (rt->parts) dc_free(rt->parts[i]);
        if (rt->totals) dc_free(rt->totals[i]);
    }
    for (int s = 0; rt->apool && s < rt->n_apool; s++) dc_free(rt->apool[s]);
    free(rt->apool);
    free(rt->astride);
    free(rt->aown);
    for (int s = 0; rt->gpool && s < rt->n_slots; s++) dc_free(rt->gpool[s]);
    free(rt->gpool);
    free(rt->gcap);
    free(rt->gslot);
    free(rt->accum);
    free(rt->wants);
    free(rt->din);
    free(rt->fuse_into);
    free(rt->res_of);
    free(rt->relu_out);
    free(rt->skip);
    dc_free(rt->scratch);
    free(rt->size);
    free(rt->in_sizes);
    free(rt->acts);
    free(rt->caches);
    free(rt->tcaches);
    free(rt->parts);
    free(rt->totals);
    dc_free(rt->probs);
    dc_free(rt->dlogits);
    dc_free(rt->tgrads);
    dc_free(rt->tscratch);
    dc_free(rt->sgrads);
    free(rt->sq);
    free(rt);
}

void dc_runtime_bind(dc_runtime *rt, const float *params, float *grads, float *state) {
    drop_prepared(rt); // made from the parameters bound before
    rt->params = params;
    rt->grads = grads;
    rt->state = state;
}

// The shares forward_shared splits nodes into: the whole team (1: none).
static int pre_shares(const dc_runtime *rt) { return rt->shares ? rt->nthreads : 1; }

dc_status dc_runtime_prepare(dc_runtime *rt, dc_error *err) {
    drop_prepared(rt);
    if (!rt->params || (rt->flags & DC_RT_BACKWARD)) return DC_OK;
    rt->pre = calloc((size_t)rt->g.n_nodes, sizeof(float *));
    if (!rt->pre) return dc_fail(err, DC_ERR_NOMEM, "out of memory for prepared weights");
    for (int i = 0; i < rt->g.n_nodes; i++) {
        const dc_node *nd = &rt->g.nodes[i];
        const size_t n = nd->op->pre_floats ? nd->op->pre_floats(nd, pre_shares(rt)) : 0;
        if (!n) continue;
        if (!(rt->pre[i] = dc_alloc(sizeof(float) * n))) {
            drop_prepared(rt);
            return dc_fail(err, DC_ERR_NOMEM, "out of memory for the prepared weights of node %s", nd->name);
        }
        nd->op->pre_make(nd, rt->params, rt->pre[i], pre_shares(rt));
    }
    return DC_OK;
}

void dc_runtime_bind_model(dc_runtime *rt, dc_model *m) { dc_runtime_bind(rt, m->params, m->grads, m->state); }
void dc_runtime_set_mode(dc_runtime *rt, dc_mode mode) { rt->mode = mode; }
void dc_runtime_set_frozen(dc_runtime *rt, const bool *frozen) { rt->frozen = frozen; }

static bool is_frozen(const dc_runtime *rt, int i) { return rt->frozen && rt->frozen[i]; }
int dc_runtime_max_batch(const dc_runtime *rt) { return rt->max_n; }
int dc_runtime_fused(const dc_runtime *rt) { return rt->n_fused; }
int dc_runtime_fused_adds(const dc_runtime *rt) { return rt->n_res_fused; }
bool dc_runtime_shares_nodes(const dc_runtime *rt) { return rt->shares; }
void dc_runtime_set_chunk(dc_runtime *rt, int chunk) { rt->chunk = chunk > 0 ? chunk : 0; }
int dc_runtime_threads(const dc_runtime *rt) { return rt->nthreads; }
float *dc_runtime_input(dc_runtime *rt) { return rt->acts[0]; }
float *dc_runtime_input_at(dc_runtime *rt, int node) {
    DC_ASSERT(node >= 0 && node < rt->g.n_nodes && (rt->g.nodes[node].op->flags & DC_OP_INPUT));
    return rt->acts[node];
}
void dc_runtime_set_input_grad(dc_runtime *rt, int node, float *dinput) {
    DC_ASSERT(node > 0 && node < rt->g.n_nodes && (rt->g.nodes[node].op->flags & DC_OP_INPUT));
    rt->din[node] = dinput;
}
const float *dc_runtime_node_output(const dc_runtime *rt, int i) {
    // a pooled output is neither contiguous nor kept; a fused one holds the relu's values
    DC_ASSERT(rt->aown[i] && rt->fuse_into[i] < 0);
    return rt->acts[i];
}
float *dc_runtime_probs(dc_runtime *rt) { return rt->probs; }
size_t dc_runtime_biggest(const dc_runtime *rt) { return rt->biggest; }

// ---------------------------------------------------------------------------
// One slice

static void slice(int n, int t, int T, int *lo, int *hi) {
    *lo = (int)((long)n * t / T);
    *hi = (int)((long)n * (t + 1) / T);
}

// The io of node i for samples [lo, hi) of a batch of n on thread t;
// pass 0 (forward) and 1 (backward) use separate partials.
static dc_node_io node_io(dc_runtime *rt, int i, int lo, int hi, int n, int t, int T, float *grads, dc_rng *rng,
                          int pass) {
    const dc_node *nd = &rt->g.nodes[i];
    dc_node_io io = {.N = hi - lo, .N_total = n, .thread = t, .nthreads = T,
                     .train = rt->mode == DC_MODE_TRAIN && !is_frozen(rt, i),
                     .n_in = nd->n_in, .in_size = rt->in_sizes + (size_t)i * DC_NODE_MAX_IN,
                     .y = rt->acts[i] + (size_t)lo * rt->astride[i], .params = rt->params, .grads = grads,
                     .state = rt->state, .update_state = t == 0, .rng = rng};
    for (int k = 0; k < nd->n_in; k++) io.x[k] = rt->acts[nd->in[k]] + (size_t)lo * rt->astride[nd->in[k]];
    if (rt->res_of[i] >= 0) io.res = rt->acts[rt->res_of[i]] + (size_t)lo * rt->astride[rt->res_of[i]];
    io.cache = rt->caches[i] ? (char *)rt->caches[i] + cache_bytes(nd, lo) : NULL;
    io.pre = rt->pre ? rt->pre[i] : NULL;
    io.pre_shares = pre_shares(rt);
    if (rt->tcaches[i]) io.tcache = rt->tcaches[i] + nd->op->tcache_bytes(nd) * (size_t)t;
    if (rt->tscratch) io.scratch = rt->tscratch + rt->scratch_per * (size_t)t;
    if (rt->parts[i]) {
        size_t pd = nd->op->part_doubles(nd);
        io.part = rt->parts[i] + pd * ((size_t)pass * T + t);
        io.total = rt->totals[i] + pd * (size_t)t;
    }
    return io;
}

// Coupled nodes: every thread's partials summed in thread order into this
// thread's total (each thread does the same arithmetic: same bits).
//
// One barrier per synchronisation point is enough: a pass's partials of a
// node are written again only by the other pass (separate buffers) or by
// the next step (after the parallel region's closing barrier), and a thread
// that races ahead to the next coupled node waits there for the slow one,
// which has finished reading these partials by then.
static void reduce_parts(dc_runtime *rt, int i, int t, int T, int pass) {
    const dc_node *nd = &rt->g.nodes[i];
    size_t pd = nd->op->part_doubles(nd);
    const double *parts = rt->parts[i] + pd * (size_t)pass * T;
    double *tot = rt->totals[i] + pd * (size_t)t;
    memcpy(tot, parts, sizeof(double) * pd);
    for (int k = 1; k < T; k++) {
        const double *p = parts + pd * (size_t)k;
        for (size_t j = 0; j < pd; j++) tot[j] += p[j];
    }
}

// A frozen node runs in eval mode inside a training step.
static bool coupled(const dc_runtime *rt, const dc_node *nd) {
    return (nd->op->flags & DC_OP_COUPLED) && rt->mode == DC_MODE_TRAIN && !is_frozen(rt, (int)(nd - rt->g.nodes));
}

// Forward of samples [lo, hi) through every node.
static void forward_slice(dc_runtime *rt, int lo, int hi, int n, int t, int T, dc_rng *rng) {
    for (int i = 1; i < rt->g.n_nodes; i++) {
        const dc_node *nd = &rt->g.nodes[i];
        if ((nd->op->flags & DC_OP_INPUT) || rt->skip[i]) continue;
        dc_node_io io = node_io(rt, i, lo, hi, n, t, T, NULL, rng, 0);
        io.relu = rt->relu_out[i];
        if (coupled(rt, nd)) {
            nd->op->forward_partial(nd, &io);
#pragma omp barrier
            reduce_parts(rt, i, t, T, 0);
            nd->op->forward_finish(nd, &io);
        } else {
            nd->op->forward(nd, &io);
        }
    }
}

// Where slice [lo, hi) of node p's output gradient lives.
static float *grad_of(dc_runtime *rt, int p, int lo, const float *dlogits, float *dinput) {
    if (p == rt->g.n_nodes - 1) return (float *)dlogits + (size_t)lo * rt->n_classes;
    if (p == 0) return dinput ? dinput + (size_t)lo * rt->in_size : NULL;
    if (rt->g.nodes[p].op->flags & DC_OP_INPUT) return rt->din[p] ? rt->din[p] + (size_t)lo * rt->size[p] : NULL;
    return rt->gpool[rt->gslot[p]] + (size_t)lo * rt->gcap[rt->gslot[p]];
}

// Which nodes' output gradients this backward needs: a node with
// parameters that is not frozen, or one that leads back to such a node (or
// to the input when dinput is wanted).
static void mark_wanted(dc_runtime *rt, bool want_dinput) {
    rt->wants[0] = want_dinput;
    for (int i = 1; i < rt->g.n_nodes; i++) {
        const dc_node *nd = &rt->g.nodes[i];
        if (nd->op->flags & DC_OP_INPUT) {
            rt->wants[i] = rt->din[i] != NULL;
            continue;
        }
        bool w = dc_node_num_params(nd) > 0 && !is_frozen(rt, i);
        for (int k = 0; k < nd->n_in && !w; k++) w = rt->wants[nd->in[k]];
        rt->wants[i] = w;
    }
}

typedef enum { PASS_GRADS, PASS_NORMS } pass_kind;

// Backward of samples [lo, hi) from dlogits. PASS_NORMS (DP-SGD's first
// pass) adds each sample's squared parameter-gradient norm into sq and
// sends weight gradients to grads as scratch.
static void backward_slice(dc_runtime *rt, int lo, int hi, int n, int t, int T, const float *dlogits,
                           float *dinput, float *grads, int cap_node, float *cap, pass_kind pass, double *sq) {
    const int nn = rt->g.n_nodes;
    for (int i = nn - 1; i >= 1; i--) {
        const dc_node *nd = &rt->g.nodes[i];
        if (!rt->wants[i] || (nd->op->flags & DC_OP_INPUT)) continue;
        const float *dy = grad_of(rt, i, lo, dlogits, dinput);
        if (i == cap_node && cap)
            memcpy(cap + (size_t)lo * rt->size[i], dy, sizeof(float) * (size_t)(hi - lo) * rt->size[i]);
        dc_node_io io = node_io(rt, i, lo, hi, n, t, T, grads, NULL, 1);
        io.dy = dy;
        bool any_dx = false;
        for (int k = 0; k < nd->n_in; k++) {
            int p = nd->in[k];
            if (!rt->wants[p]) continue;
            any_dx = true;
            io.dx[k] = rt->accum[i * DC_NODE_MAX_IN + k] ? rt->scratch + (size_t)lo * rt->biggest
                                                         : grad_of(rt, p, lo, dlogits, dinput);
            // two accumulating slots of one node would share the scratch
            for (int j = 0; j < k; j++)
                DC_ASSERT(!(io.dx[j] == io.dx[k] && rt->accum[i * DC_NODE_MAX_IN + k]));
        }
        if (pass == PASS_NORMS && is_frozen(rt, i)) {
            // a frozen node's parameters are not part of the clipped gradient
            if (any_dx) nd->op->backward(nd, &io);
        } else if (pass == PASS_NORMS) {
            if (nd->op->backward_sqnorm) {
                nd->op->backward_sqnorm(nd, &io, sq + lo);
            } else {
                if (nd->op->sample_sqnorm) nd->op->sample_sqnorm(nd, &io, sq + lo);
                if (any_dx) nd->op->backward(nd, &io);
            }
        } else if (coupled(rt, nd)) {
            nd->op->backward_partial(nd, &io);
#pragma omp barrier
            reduce_parts(rt, i, t, T, 1);
            nd->op->backward_finish(nd, &io);
        } else {
            nd->op->backward(nd, &io);
        }
        // accumulating consumers: add the scratch into the producer's gradient
        for (int k = 0; k < nd->n_in; k++) {
            if (!io.dx[k] || !rt->accum[i * DC_NODE_MAX_IN + k]) continue;
            float *g = grad_of(rt, nd->in[k], lo, dlogits, dinput);
            size_t cnt = (size_t)(hi - lo) * (size_t)rt->in_sizes[i * DC_NODE_MAX_IN + k];
            for (size_t j = 0; j < cnt; j++) g[j] += io.dx[k][j];
        }
    }
}

// A batch smaller than the team (batch-1 inference on 2 threads) in eval
// mode: the threads share each node instead of the batch. A node with
// forward_share (a convolution) gives each thread a share of its output
// channels; every other node, and a convolution its kernel cannot split,
// runs on thread 0; all meet after each node. Every output is computed by
// the same kernel with the same chain as on one thread: the same bits.
static void forward_shared(dc_runtime *rt, int n, int t, int T, dc_rng *rng) {
    for (int i = 1; i < rt->g.n_nodes; i++) {
        const dc_node *nd = &rt->g.nodes[i];
        if ((nd->op->flags & DC_OP_INPUT) || rt->skip[i]) continue;
        dc_node_io io = node_io(rt, i, 0, n, n, t, T, NULL, rng, 0);
        io.relu = rt->relu_out[i];
        io.share = t, io.shares = T;
        const bool shared = nd->op->forward_share && nd->op->forward_share(nd, &io);
        if (!shared && t == 0) nd->op->forward(nd, &io);
#pragma omp barrier
    }
}

static dc_rng thread_rng(uint64_t base, int t) { return dc_rng_stream(base, (uint64_t)t, 0x64726f70); }

static int team(const dc_runtime *rt, int n) { return rt->nthreads < n ? rt->nthreads : n; }

const float *dc_runtime_forward(dc_runtime *rt, int n, dc_rng *rng) {
    DC_ASSERT(n >= 1 && n <= rt->max_n && rt->params);
    const uint64_t base = rng ? dc_rng_u64(rng) : 0;
    if (rt->mode != DC_MODE_TRAIN && n < rt->nthreads && rt->shares) {
        const int T = rt->nthreads;
#pragma omp parallel num_threads(T)
        {
            // the team OpenMP gave (fewer than asked inside another parallel
            // region, or under OMP_THREAD_LIMIT): the shares are cut for it
            const int t = omp_get_thread_num(), got = omp_get_num_threads();
            dc_rng r = thread_rng(base, 0); // eval mode draws nothing; one stream as if one thread
            forward_shared(rt, n, t, got, &r);
        }
        return rt->acts[rt->g.n_nodes - 1];
    }
    const int T = team(rt, n);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        int t = omp_get_thread_num(), lo, hi;
        slice(n, t, T, &lo, &hi);
        dc_rng r = thread_rng(base, t);
        const int step = rt->chunk > 0 && rt->mode != DC_MODE_TRAIN ? rt->chunk : hi - lo;
        for (int c = lo; c < hi; c += step) forward_slice(rt, c, c + step < hi ? c + step : hi, n, t, T, &r);
    }
    return rt->acts[rt->g.n_nodes - 1];
}

// Grads of threads 1..T-1 are added into the bound gradients in thread
// order; the parameter range is split across threads (each element summed
// in one order).
static void reduce_grads(dc_runtime *rt, int t, int T) {
    if (T < 2) return;
    int lo, hi;
    slice((int)rt->g.n_params, t, T, &lo, &hi);
    for (int k = 1; k < T; k++) {
        const float *g = rt->tgrads + (size_t)(k - 1) * rt->g.n_params;
        for (int j = lo; j < hi; j++) rt->grads[j] += g[j];
    }
}

static float *grads_of(dc_runtime *rt, int t) {
    if (t == 0) return rt->grads;
    float *g = rt->tgrads + (size_t)(t - 1) * rt->g.n_params;
    memset(g, 0, sizeof(float) * rt->g.n_params);
    return g;
}

void dc_runtime_backward(dc_runtime *rt, int n, const float *dlogits, float *dinput, int cap_node, float *cap_out) {
    DC_ASSERT((rt->flags & DC_RT_BACKWARD) && rt->grads && n >= 1 && n <= rt->max_n);
    const int T = team(rt, n);
    mark_wanted(rt, dinput != NULL);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        int t = omp_get_thread_num(), lo, hi;
        slice(n, t, T, &lo, &hi);
        backward_slice(rt, lo, hi, n, t, T, dlogits, dinput, grads_of(rt, t), cap_node, cap_out, PASS_GRADS, NULL);
#pragma omp barrier
        reduce_grads(rt, t, T);
    }
}

// Mean (weighted) cross-entropy of the logits, summed in sample order in
// double, so it does not depend on the thread count.
static double batch_loss(const dc_runtime *rt, int n, const int32_t *labels, const float *weights) {
    const int C = rt->n_classes;
    const float *logits = rt->acts[rt->g.n_nodes - 1];
    double loss = 0.0;
    for (int i = 0; i < n; i++) {
        const float *z = logits + (size_t)i * C;
        float mx = z[0];
        for (int k = 1; k < C; k++)
            if (z[k] > mx) mx = z[k];
        double s = 0.0;
        for (int k = 0; k < C; k++) s += exp((double)z[k] - mx);
        double l = -((double)z[labels[i]] - mx - log(s));
        loss += weights ? weights[i] * l : l;
    }
    return loss / n;
}

// The teacher's side of a distillation step.
typedef struct {
    const float *logits; // (n, n_classes)
    float alpha, temp;
} distill_targets;

static double train_step(dc_runtime *rt, int n, const int32_t *labels, const float *weights, dc_rng *rng,
                         float *dinput, const distill_targets *kd) {
    DC_ASSERT((rt->flags & DC_RT_BACKWARD) && rt->grads && n >= 1 && n <= rt->max_n);
    const int T = team(rt, n);
    const int C = rt->n_classes;
    const uint64_t base = rng ? dc_rng_u64(rng) : 0;
    mark_wanted(rt, dinput != NULL);
#pragma omp parallel num_threads(T) if (T > 1)
    {
        int t = omp_get_thread_num(), lo, hi;
        slice(n, t, T, &lo, &hi);
        dc_rng r = thread_rng(base, t);
        forward_slice(rt, lo, hi, n, t, T, &r);
        // softmax and its gradient are per sample; only the 1/n scale is global
        const float *logits = rt->acts[rt->g.n_nodes - 1] + (size_t)lo * C;
        float *probs = rt->probs + (size_t)lo * C;
        dc_softmax_xent_forward(probs, logits, labels + lo, weights ? weights + lo : NULL, hi - lo, C);
        const float invn = 1.0f / (float)n;
        if (kd) {
            dc_distill_backward(rt->dlogits + (size_t)lo * C, logits, kd->logits + (size_t)lo * C, labels + lo,
                                weights ? weights + lo : NULL, hi - lo, C, kd->alpha, kd->temp, invn);
        } else {
            for (int i = lo; i < hi; i++) {
                float s = (weights ? weights[i] : 1.0f) * invn;
                const float *p = rt->probs + (size_t)i * C;
                float *d = rt->dlogits + (size_t)i * C;
                for (int k = 0; k < C; k++) d[k] = p[k] * s;
                d[labels[i]] -= s;
            }
        }
        backward_slice(rt, lo, hi, n, t, T, rt->dlogits, dinput, grads_of(rt, t), -1, NULL, PASS_GRADS, NULL);
#pragma omp barrier
        reduce_grads(rt, t, T);
    }
    if (kd)
        return dc_distill_loss(rt->acts[rt->g.n_nodes - 1], kd->logits, labels, weights, n, C, kd->alpha, kd->temp);
    return batch_loss(rt, n, labels, weights);
}

double dc_runtime_train_step(dc_runtime *rt, int n, const int32_t *labels, const float *weights, dc_rng *rng,
                             float *dinput) {
    return train_step(rt, n, labels, weights, rng, dinput, NULL);
}

double dc_runtime_distill_step(dc_runtime *rt, int n, const int32_t *labels, const float *weights,
                               const float *teacher_logits, float alpha, float temp, dc_rng *rng) {
    DC_ASSERT(teacher_logits && alpha >= 0 && alpha <= 1 && temp > 0 && rt->n_classes <= DC_DISTILL_MAX_C);
    const distill_targets kd = {.logits = teacher_logits, .alpha = alpha, .temp = temp};
    return train_step(rt, n, labels, weights, rng, NULL, &kd);
}

double dc_runtime_dp_step(dc_runtime *rt, int n, const int32_t *labels, float clip, double *sq_out,
                          int *n_clipped) {
    DC_ASSERT((rt->flags & DC_RT_BACKWARD) && rt->grads && n >= 1 && n <= rt->max_n);
    for (int i = 0; i < rt->g.n_nodes; i++) DC_ASSERT(!coupled(rt, &rt->g.nodes[i]));
    const int T = team(rt, n);
    const int C = rt->n_classes;
    if (!rt->sgrads) rt->sgrads = dc_alloc(sizeof(float) * (size_t)rt->nthreads * (rt->g.n_params ? rt->g.n_params : 1));
    if (!rt->sq) rt->sq = malloc(sizeof(double) * (size_t)rt->max_n);
    DC_ASSERT(rt->sgrads && rt->sq);
    double *sq = rt->sq;
    int clipped = 0;
    mark_wanted(rt, false);
#pragma omp parallel num_threads(T) if (T > 1) reduction(+ : clipped)
    {
        int t = omp_get_thread_num(), lo, hi;
        slice(n, t, T, &lo, &hi);
        forward_slice(rt, lo, hi, n, t, T, NULL);
        dc_softmax_xent_forward(rt->probs + (size_t)lo * C, rt->acts[rt->g.n_nodes - 1] + (size_t)lo * C,
                                labels + lo, NULL, hi - lo, C);
        // per-sample loss gradients (no 1/n: each sample is clipped alone)
        for (int i = lo; i < hi; i++) {
            const float *p = rt->probs + (size_t)i * C;
            float *d = rt->dlogits + (size_t)i * C;
            for (int k = 0; k < C; k++) d[k] = p[k];
            d[labels[i]] -= 1.0f;
            sq[i] = 0.0;
        }
        backward_slice(rt, lo, hi, n, t, T, rt->dlogits, NULL, rt->sgrads + (size_t)t * rt->g.n_params, -1, NULL,
                       PASS_NORMS, sq);
        // Opacus's rule: factor = min(1, C / (norm + 1e-6))
        for (int i = lo; i < hi; i++) {
            double f = (double)clip / (sqrt(sq[i]) + 1e-6);
            if (f < 1.0) {
                clipped++;
                float *d = rt->dlogits + (size_t)i * C;
                for (int k = 0; k < C; k++) d[k] = (float)(d[k] * f);
            }
        }
        backward_slice(rt, lo, hi, n, t, T, rt->dlogits, NULL, grads_of(rt, t), -1, NULL, PASS_GRADS, NULL);
#pragma omp barrier
        reduce_grads(rt, t, T);
    }
    if (sq_out) memcpy(sq_out, sq, sizeof(double) * (size_t)n);
    if (n_clipped) *n_clipped = clipped;
    return batch_loss(rt, n, labels, NULL);
}
