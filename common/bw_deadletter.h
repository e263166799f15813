/**
 * @file bw_deadletter.h
 * @brief Dead-letter writer: every input a stage cannot use goes to
 *        bw.deadletter as a DeadLetter record (original bytes, where it came
 *        from, the stage and the reason), and the stage goes on.
 */
#ifndef BW_DEADLETTER_H
#define BW_DEADLETTER_H

#include <librdkafka/rdkafka.h>

#include "bw_err.h"
#include "bw_kafka.h"
#include "bw_metrics.h"
#include "bw_serde.h"

typedef struct bw_deadletter_s bw_deadletter_t;

bw_deadletter_t *bw_deadletter_new(bw_producer_t *producer, bw_serde_t *sd, const char *topic,
                                   const char *stage, bw_metrics_t *reg, char *errstr,
                                   size_t errstr_size);

/** Where a rejected record came from. */
typedef struct bw_dl_origin_s {
    const char *topic;
    int32_t partition;
    int64_t offset;
    const void *key;
    size_t keylen;
    const void *payload;
    size_t len;
} bw_dl_origin_t;

/**
 * @brief Send one dead letter. An original too large to fit is cut, and the
 *        reason says so. Returns an error only if it could not be queued.
 */
bw_err_t bw_deadletter_send(bw_deadletter_t *dl, const bw_dl_origin_t *origin, bw_err_t code,
                            const char *reason);

/** @brief Convenience for a consumed message. */
bw_err_t bw_deadletter_msg(bw_deadletter_t *dl, const rd_kafka_message_t *msg, bw_err_t code,
                           const char *reason);

/** @brief Dead letters sent since creation. */
int64_t bw_deadletter_count(const bw_deadletter_t *dl);

void bw_deadletter_destroy(bw_deadletter_t *dl);

#endif
