// learn_common.c — shared pieces of the finetune, pretrain and tune verbs.
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "learn_common.h"

void learn_add_train_rows(dc_opt *opts, int *n, int cap, learn_opts *lo) {
    int e = 0;
    for (const dc_topt *t = dc_topts; t->name; t++) {
        if (*n >= cap - 1) break; // keep the terminator's slot
        dc_opt *r = &opts[(*n)++];
        memset(r, 0, sizeof *r);
        r->name = t->name;
        r->help = t->help;
        void *dst = (char *)&lo->o + t->offset;
        switch (t->type) {
        case DC_TOPT_FLOAT: r->type = OPT_FLOAT; r->dst = dst; break;
        case DC_TOPT_INT: r->type = OPT_INT; r->dst = dst; break;
        case DC_TOPT_BOOL: r->type = OPT_FLAG; r->dst = dst; break;
        case DC_TOPT_ENUM:
            lo->enum_str[e] = t->choices[*(int *)dst];
            r->type = OPT_STR;
            r->dst = &lo->enum_str[e++];
            break;
        }
    }
    memset(&opts[*n], 0, sizeof opts[*n]);
}

bool learn_finish(learn_opts *lo, const char *verb) {
    int e = 0;
    for (const dc_topt *t = dc_topts; t->name; t++) {
        if (t->type != DC_TOPT_ENUM) continue;
        const char *v = lo->enum_str[e++];
        int k = -1;
        for (int i = 0; t->choices[i]; i++)
            if (!strcmp(v, t->choices[i])) k = i;
        if (k < 0) {
            char r[160];
            dc_topt_range_text(t, r, sizeof r);
            fprintf(stderr, "deepc %s: --%s '%s': expected %s\n", verb, t->name, v, r);
            return false;
        }
        *(int *)((char *)&lo->o + t->offset) = k;
    }
    return true;
}

void learn_on_event(const dc_train_event *ev, void *user) {
    learn_printer *s = user;
    if (ev->kind == DC_EVENT_STEP) {
        char extra[96], label[32];
        snprintf(extra, sizeof extra, "loss %.4f acc %.2f%%", ev->train_loss, 100 * ev->train_acc);
        snprintf(label, sizeof label, "epoch %d/%d", ev->epoch, ev->epochs);
        progress_update(&s->bar, label, ev->step, ev->steps, ev->seconds, extra);
        return;
    }
    progress_clear(&s->bar);
    const bool val = s->split && !strcmp(s->split, "val");
    if (s->json) {
        // the shared vocabulary (README, "JSON output"), as deepc train's epochs
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "event", "epoch");
        cJSON_AddNumberToObject(j, "epoch", ev->epoch);
        cJSON_AddNumberToObject(j, "epochs", ev->epochs);
        cJSON_AddNumberToObject(j, "train_loss", ev->train_loss);
        cJSON_AddNumberToObject(j, "train_accuracy", ev->train_acc);
        cli_json_add(j, "val_accuracy", val ? ev->test_acc : NAN, 0);
        cli_json_add(j, "test_accuracy", val ? NAN : ev->test_acc, 0);
        cJSON_AddNumberToObject(j, "seconds", ev->seconds);
        cJSON_AddNumberToObject(j, "lr", ev->lr);
        cli_json_print(j);
    } else if (!s->quiet) {
        printf("epoch %3d/%d  loss %.4f  train acc %6.2f%%", ev->epoch, ev->epochs, ev->train_loss,
               100 * ev->train_acc);
        if (ev->test_acc >= 0) printf("  %s acc %6.2f%%", val ? "val" : "test", 100 * ev->test_acc);
        printf("  lr %.3g  %.2f s\n", ev->lr, ev->seconds);
    }
    fflush(stdout);
}

void learn_utc_now(char *buf, size_t cap) {
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tmv);
}
