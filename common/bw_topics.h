/**
 * @file bw_topics.h
 * @brief The pipeline's topics and the schema each one carries.
 */
#ifndef BW_TOPICS_H
#define BW_TOPICS_H

#include <stddef.h>
#include <string.h>

/* X(topic, schema name) */
#define BW_TOPICS(X)                               \
    X("bw.reviews", "ReviewEvent")                 \
    X("bw.orders", "OrderEvent")                   \
    X("bw.shipments", "ShipmentEvent")             \
    X("bw.actions", "SellerAction")                \
    X("bw.reviews.classified", "ClassifiedReview") \
    X("bw.signals", "Signal")                      \
    X("bw.alerts", "EarlyWarning")                 \
    X("bw.deadletter", "DeadLetter")

/** @brief Schema name carried by a bw.* topic, or NULL for another topic. */
static inline const char *bw_topic_schema(const char *topic) {
#define BW_TOPIC_CMP_(t, s) \
    if (!strcmp(topic, t))  \
        return s;
    BW_TOPICS(BW_TOPIC_CMP_)
#undef BW_TOPIC_CMP_
    return NULL;
}

#endif
