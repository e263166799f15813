/* A bound on how long a process may take to stop once asked to.
 *
 * Stopping waits on the broker: the batch in hand (its commit), the last
 * deliveries, leaving the consumer group, librdkafka's own teardown. A
 * broker that has gone away or hangs can make those waits last for good (a
 * stage once hung in rd_kafka_destroy(), joining a thread that waited on a
 * broker answering ten minutes late: tests/faults/test_shutdown.sh), and a
 * container runtime then kills the process anyway (Kubernetes after 30 s).
 * Past the bound the process says so and exits at once. Nothing is lost by
 * that: offsets are committed only after a batch's state and output are
 * written, so what was not committed is read again by the partition's
 * next owner, and the fences skip what was already applied. */
#ifndef BW_STOP_GUARD_H
#define BW_STOP_GUARD_H

/** How long a stage may take to stop, from SIGTERM or SIGINT. */
#define BW_STOP_TIMEOUT_MS 25000

typedef struct bw_stop_guard_s bw_stop_guard_t;

/**
 * @brief Watch for a stop request (bw_proc_stopping()); from the moment one
 *        comes, if bw_stop_guard_end() has not been called within
 *        @p timeout_ms, log that @p what did not stop in time and
 *        _exit(@p status): the status it would have stopped with (a stage
 *        0, stopping was asked for and it stops; bw-replay 1, it did not
 *        send everything).
 * @returns NULL if the guard could not start (logged: stopping is then not
 *          bounded).
 */
bw_stop_guard_t *bw_stop_guard_start(const char *what, int timeout_ms, int status);

/** @brief Stopped (or done): cancel the guard and free it. NULL is a no-op. */
void bw_stop_guard_end(bw_stop_guard_t *g);

#endif
