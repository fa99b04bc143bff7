/* scheduler.c - picks the scheduler backend the config names */
#include "scheduler.h"

int sched_for(const struct cfg *cfg, const struct sched_ops **ops, struct mdo_err *err)
{
    switch (cfg->scheduler) {
    case CFG_SCHED_DOCKER:
        *ops = &sched_docker;
        return 0;
    case CFG_SCHED_MARATHON:
        *ops = &sched_marathon;
        return 0;
    case CFG_SCHED_SWARM:
        err_set(err, MDO_ECONFIG,
                "%s: scheduler 'swarm' is not available in this build "
                "yet: use scheduler: docker",
                cfg->path);
        return err_from(err, MDO_SRC_CONFIG);
    }
    err_set(err, MDO_ECONFIG, "unknown scheduler");
    return err_from(err, MDO_SRC_CONFIG);
}
