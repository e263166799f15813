/* bw-devkafka's fault control: one command per line, applied to the mock
 * cluster through librdkafka's mock API (tests/faults/ drive it through a
 * FIFO, --control.file). */
#ifndef BW_DEVKAFKA_CONTROL_H
#define BW_DEVKAFKA_CONTROL_H

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <stdbool.h>
#include <stddef.h>

/**
 * @brief Apply one command:
 *   down BROKER|all            broker stops answering (no leader change)
 *   up BROKER|all              and answers again
 *   rtt BROKER|all MS          every response delayed MS
 *   leader TOPIC PARTITION BROKER
 *   errors API COUNT ERROR     the next COUNT requests of API fail with ERROR
 *   stall BROKER API COUNT MS  the next COUNT requests of API to BROKER are
 *                              answered (without error) MS late
 *   clear API                  forget the errors still queued for API
 * API: produce, fetch, listoffsets, metadata, offsetcommit, offsetfetch,
 * findcoordinator, joingroup, heartbeat, leavegroup, syncgroup, or a
 * number; ERROR: a librdkafka error name (NOT_LEADER_FOR_PARTITION,
 * _TRANSPORT, ...) or a number. Blank lines and # comments do nothing.
 * @returns false with the reason in @p errstr.
 */
bool dk_control(rd_kafka_mock_cluster_t *mc, const char *line, char *errstr, size_t errstr_size);

#endif
