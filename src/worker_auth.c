/* worker_auth — OAuth 2.0 client-credentials tokens of the accounts whose
 * scheme needs one (src/oauth.h): the token request goes over the
 * worker's libcurl multi like any call, so the loop never blocks, and
 * calls wait in their account's queue while it is in flight. */
#include "worker_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "http.h"
#include "log.h"
#include "metrics.h"
#include "oauth.h"
#include "retry.h"

int worker_auth_init(struct worker *w, struct account_state *a)
{
        const struct provider_oauth *cfg = provider_account_oauth(a->acct);
        if (!cfg)
                return 0;
        struct retry_policy p = {a->lim->max_attempts, a->lim->budget_ms,
                                 a->lim->backoff_base_ms,
                                 a->lim->backoff_max_ms};
        a->oauth = oauth_new(cfg, &p, w->rng ^ (uint64_t)(a - w->accounts));
        return a->oauth ? 0 : -1;
}

void worker_auth_free(struct account_state *a)
{
        oauth_free(a->oauth);
        a->oauth = NULL;
}

static void fetch_finished(struct worker *w, struct account_state *a,
                           long status, const char *body, size_t len,
                           int64_t retry_after)
{
        static const char *const names[] = {[OAUTH_OK] = "ok",
                                            [OAUTH_REJECTED] = "rejected",
                                            [OAUTH_ERROR] = "error"};
        const char *prov = provider_account_provider(a->acct);
        const char *name = provider_account_name(a->acct);
        enum oauth_result r = oauth_fetch_done(a->oauth, status, body, len,
                                               retry_after, clock_mono_ms());
        metrics_token_fetched(w->m, prov, name, names[r],
                              oauth_fetched_at(a->oauth));
        if (r == OAUTH_OK)
                log_debug(NULL, prov, "account %s: new OAuth token", name);
        else
                log_warn(NULL, prov, "account %s: %s", name,
                         oauth_error(a->oauth));
}

static void start_fetch(struct worker *w, struct account_state *a, int64_t now)
{
        const struct provider_oauth *cfg = provider_account_oauth(a->acct);
        struct oauth_request rq;
        struct provider_header hd[2] = {
            {"Content-Type", "application/x-www-form-urlencoded", 0},
            {"Accept", "application/json", 0}};
        struct provider_header basic = {"Authorization", NULL, 1};
        char err[256];

        oauth_fetch_started(a->oauth, now);
        if (oauth_request_build(a->oauth, &rq) != 0) {
                fetch_finished(w, a, 0, "out of memory", 13, -1);
                return;
        }
        basic.value = rq.authorization;
        struct http_request hr = {
            .method = "POST",
            .url = cfg->token_url,
            .headers = hd,
            .nheaders = 2,
            .extra = &basic,
            .nextra = rq.authorization ? 1 : 0,
            .body = rq.body,
            .body_len = strlen(rq.body),
        };
        a->auth_xfer = http_start_request(w->http, &hr, a->lim, a->oauth, err,
                                          sizeof(err));
        oauth_request_clear(&rq);
        if (!a->auth_xfer)
                fetch_finished(w, a, 0, err, strlen(err), -1);
}

int worker_auth_gate(struct worker *w, struct account_state *a, int64_t now,
                     const char **why)
{
        int64_t wake;
        if (!a->oauth)
                return 1;
        if (oauth_fetch_due(a->oauth, now))
                start_fetch(w, a, now);
        switch (oauth_status(a->oauth, now, &wake)) {
        case OAUTH_READY:
                return 1;
        case OAUTH_FAILED:
                *why = oauth_error(a->oauth);
                return -1;
        case OAUTH_WAIT:
                break;
        }
        if (wake < w->account_wake)
                w->account_wake = wake;
        return 0;
}

int worker_auth_header(const struct account_state *a,
                       struct provider_header *hd, uint64_t *gen)
{
        if (!a->oauth || !oauth_header_value(a->oauth))
                return 0;
        const struct provider_oauth *cfg = provider_account_oauth(a->acct);
        hd->name = (char *)cfg->header;
        hd->value = (char *)oauth_header_value(a->oauth);
        hd->secret = 1;
        *gen = oauth_generation(a->oauth);
        return 1;
}

int worker_auth_done(struct worker *w, void *opaque,
                     const struct http_result *res)
{
        for (size_t i = 0; i < w->naccounts; i++) {
                struct account_state *a = &w->accounts[i];
                if (!a->oauth || opaque != (void *)a->oauth)
                        continue;
                a->auth_xfer = NULL;
                int64_t ra = res->retry_after ? retry_after_ms(res->retry_after,
                                                               clock_wall_ms())
                                              : -1;
                if (res->status == 0)
                        fetch_finished(w, a, 0, res->error, strlen(res->error),
                                       -1);
                else
                        fetch_finished(w, a, res->status, res->body,
                                       res->body_len, ra);
                return 1;
        }
        return 0;
}

int worker_auth_on_401(struct worker *w, struct call *c)
{
        struct account_state *a = c->acct;
        if (!a->oauth || c->auth_retried)
                return 0;
        c->auth_retried = 1;
        oauth_invalidate(a->oauth, c->auth_gen);
        log_info(c->job->request_id, c->pc->provider,
                 "401 on %s: OAuth token dropped, call retried once",
                 c->pc->action_name);
        (void)w;
        return 1;
}
