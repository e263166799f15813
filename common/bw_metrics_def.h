/**
 * @file bw_metrics_def.h
 * @brief The metrics every Bellwether process exports (X-macro table).
 *
 * X(id, type, name, help, labels). Stages add their own table the same way.
 */
#ifndef BW_METRICS_DEF_H
#define BW_METRICS_DEF_H

#include "bw_metrics.h"

#define BW_COMMON_METRICS(X)                                                                       \
    X(UP, BW_METRIC_GAUGE, "up", "1 while the process runs", "")                                   \
    X(READY, BW_METRIC_GAUGE, "ready", "1 when the process is ready to do work", "")               \
    X(START_TIME, BW_METRIC_GAUGE, "start_time_seconds", "Process start, Unix seconds", "")        \
    X(CONSUMED, BW_METRIC_COUNTER, "messages_consumed_total", "Messages consumed", "topic")        \
    X(PRODUCED, BW_METRIC_COUNTER, "messages_produced_total", "Messages delivered", "topic")       \
    X(PRODUCE_ERRORS, BW_METRIC_COUNTER, "produce_errors_total", "Messages whose delivery failed", \
      "topic")                                                                                     \
    X(DEADLETTERS, BW_METRIC_COUNTER, "deadletters_total",                                         \
      "Input records sent to the dead-letter topic", "reason")                                     \
    X(DECODE_ERRORS, BW_METRIC_COUNTER, "decode_errors_total",                                     \
      "Records that failed to decode or validate", "reason")                                       \
    X(COMMITS, BW_METRIC_COUNTER, "offset_commits_total", "Offset commits", "result")              \
    X(REBALANCES, BW_METRIC_COUNTER, "rebalances_total", "Partition assignments and revocations",  \
      "kind")                                                                                      \
    X(BATCH_SECONDS, BW_METRIC_HISTOGRAM, "batch_seconds", "Time to process one consumed batch",   \
      "")                                                                                          \
    X(BATCH_RETRIES, BW_METRIC_COUNTER, "batch_retries_total",                                     \
      "Batches run again after a retriable failure", "")                                           \
    X(REDIS_CALLS, BW_METRIC_COUNTER, "redis_calls_total", "Redis round trips", "result")          \
    X(REDIS_RECONNECTS, BW_METRIC_COUNTER, "redis_reconnects_total", "Redis reconnect attempts",   \
      "result")                                                                                    \
    X(REDIS_SECONDS, BW_METRIC_HISTOGRAM, "redis_call_seconds", "Redis round-trip time", "")       \
    X(CONSUMER_LAG, BW_METRIC_GAUGE, "consumer_lag_messages",                                      \
      "Messages behind the end of the assigned partitions", "topic")

#define BW_METRIC_DECL_ENUM_(id, type, name, help, labels) BW_M_##id,
enum { BW_COMMON_METRICS(BW_METRIC_DECL_ENUM_) BW_M__CNT };

/** The common table, indexed by BW_M_<id>. */
extern const bw_metric_decl_t bw_common_metrics[BW_M__CNT];

#endif
