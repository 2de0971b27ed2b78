/* Injected faults: rules posted to /_control/faults plus --latency-ms. */
#ifndef PS_FAULTS_H
#define PS_FAULTS_H

#include <jansson.h>
#include <stddef.h>

#include "echo.h"
#include "providers.h"

enum fault_action {
        FAULT_NONE,   /* answer normally (maybe late) */
        FAULT_STATUS, /* answer with an injected status instead */
        FAULT_HANG,   /* never answer */
        FAULT_RESET,  /* drop the TCP connection without an answer */
};

/* What one request gets; the strings are owned copies. */
struct fault_outcome {
        unsigned int latency_ms;
        enum fault_action action;
        unsigned int status;
        char *retry_after;
        char *body;
        unsigned long long pad_bytes; /* spaces streamed after body */
        enum echo_mode echo;          /* quote the request's credentials */
        unsigned int echo_pad;
};

void faults_init(unsigned long long seed, unsigned int base_latency_ms);
void faults_free(void);

/* Validates and appends a rule; returns its id, or -1 with err set. */
long faults_add(json_t *rule, char *err, size_t err_len);
void faults_clear(void);
json_t *faults_list(void);

/* Decides, and consumes a use of the rule that applies. */
void faults_pick(enum provider p, struct fault_outcome *out);
void fault_outcome_free(struct fault_outcome *out);
const char *fault_action_name(enum fault_action a);

#endif
