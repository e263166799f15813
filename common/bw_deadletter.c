#include "bw_deadletter.h"

#include <stdlib.h>
#include <string.h>

#include "bw_log.h"
#include "bw_metrics_def.h"
#include "bw_util.h"

/* Room kept for the DeadLetter fields around the original bytes. */
#define DL_OVERHEAD 4096

struct bw_deadletter_s {
    bw_producer_t *producer;
    bw_serde_t *sd;
    const bw_schema_t *schema;
    bw_record_t *rec;
    char *topic;
    char *stage;
    bw_buf_t buf;
    size_t max_original;
    int64_t count;
    bw_metrics_t *reg;
};

bw_deadletter_t *bw_deadletter_new(bw_producer_t *producer, bw_serde_t *sd, const char *topic,
                                   const char *stage, bw_metrics_t *reg, char *errstr,
                                   size_t errstr_size) {
    bw_deadletter_t *dl = calloc(1, sizeof(*dl));

    if (!dl)
        goto nomem;
    dl->producer = producer;
    dl->sd = sd;
    dl->reg = reg;
    if (!(dl->schema = bw_serde_schema(sd, "DeadLetter"))) {
        bw_errstr_set(errstr, errstr_size, "no DeadLetter schema in the manifest");
        free(dl);
        return NULL;
    }
    if (!(dl->rec = bw_record_new(dl->schema)) || !(dl->topic = strdup(topic)) ||
        !(dl->stage = strdup(stage)))
        goto nomem;
    /* Largest original that still leaves room for the other fields. */
    dl->max_original = bw_serde_max_bytes(sd) > 2 * DL_OVERHEAD
                           ? bw_serde_max_bytes(sd) - DL_OVERHEAD
                           : bw_serde_max_bytes(sd) / 2;
    return dl;
nomem:
    bw_errstr_set(errstr, errstr_size, "out of memory");
    bw_deadletter_destroy(dl);
    return NULL;
}

static int set_field_string(avro_value_t *rec, const char *name, const char *s) {
    avro_value_t f;

    return avro_value_get_by_name(rec, name, &f, NULL) || avro_value_set_string(&f, s);
}

bw_err_t bw_deadletter_send(bw_deadletter_t *dl, const bw_dl_origin_t *o, bw_err_t code,
                            const char *reason) {
    avro_value_t *v = &dl->rec->value, f, branch;
    char errstr[512], why[1024];
    size_t keep = o->len;
    bw_err_t err;

    if (keep > dl->max_original)
        keep = dl->max_original;
    /* The reason may quote hostile input: keep it valid UTF-8. */
    snprintf(why, sizeof(why), "%s%s", reason, keep < o->len ? " (original truncated)" : "");
    if (bw_utf8_check(why, strlen(why)) >= 0)
        snprintf(why, sizeof(why), "%s%s", bw_err2str(code),
                 keep < o->len ? " (original truncated)" : "");
    avro_value_reset(v);
    if (avro_value_get_by_name(v, "original", &f, NULL) ||
        avro_value_set_bytes(&f, (void *)(o->payload ? o->payload : ""), keep) ||
        avro_value_get_by_name(v, "key", &f, NULL) ||
        avro_value_set_branch(&f, o->key ? 1 : 0, &branch) ||
        (o->key ? avro_value_set_bytes(&branch, (void *)o->key, o->keylen)
                : avro_value_set_null(&branch)) ||
        set_field_string(v, "topic", o->topic ? o->topic : "") ||
        avro_value_get_by_name(v, "partition", &f, NULL) || avro_value_set_int(&f, o->partition) ||
        avro_value_get_by_name(v, "offset", &f, NULL) || avro_value_set_long(&f, o->offset) ||
        set_field_string(v, "stage", dl->stage) ||
        set_field_string(v, "error_code", bw_err2name(code)) || set_field_string(v, "error", why) ||
        avro_value_get_by_name(v, "failed_at", &f, NULL) || avro_value_set_long(&f, bw_now_ms())) {
        bw_log(BW_LOG_ERROR, "dead letter: Avro C: %s", avro_strerror());
        return BW_ERR_SCHEMA;
    }
    if ((err = bw_serde_encode(dl->sd, dl->schema, v, &dl->buf, errstr, sizeof(errstr))) ||
        (err = bw_producer_send(dl->producer, dl->topic, o->key, o->keylen, dl->buf.data,
                                dl->buf.len, errstr, sizeof(errstr)))) {
        bw_log(BW_LOG_ERROR, "dead letter for %s [%d] @%lld not sent: %s", o->topic,
               (int)o->partition, (long long)o->offset, errstr);
        return err;
    }
    dl->count++;
    if (dl->reg)
        bw_metric_inc(
            bw_metrics_get(dl->reg, &bw_common_metrics[BW_M_DEADLETTERS], bw_err2name(code)));
    bw_log_rl(BW_LOG_WARN, "dead-lettered %s [%d] @%lld: %s", o->topic ? o->topic : "?",
              (int)o->partition, (long long)o->offset, why);
    return BW_ERR_OK;
}

bw_err_t bw_deadletter_msg(bw_deadletter_t *dl, const rd_kafka_message_t *msg, bw_err_t code,
                           const char *reason) {
    bw_dl_origin_t o = {
        .topic = msg->rkt ? rd_kafka_topic_name(msg->rkt) : "",
        .partition = msg->partition,
        .offset = msg->offset,
        .key = msg->key,
        .keylen = msg->key_len,
        .payload = msg->payload,
        .len = msg->len,
    };
    return bw_deadletter_send(dl, &o, code, reason);
}

int64_t bw_deadletter_count(const bw_deadletter_t *dl) {
    return dl->count;
}

void bw_deadletter_destroy(bw_deadletter_t *dl) {
    if (!dl)
        return;
    bw_record_destroy(dl->rec);
    bw_buf_free(&dl->buf);
    free(dl->topic);
    free(dl->stage);
    free(dl);
}
