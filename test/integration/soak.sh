#!/usr/bin/env bash
# soak.sh - the bounded soak of the suite: test/soak --minutes 3 with a fixed seed (random
# scale/kill/restart/etcd-kill churn on local Docker, registry == docker ps after every step;
# see test/soak). Three minutes is over the suite's 60 s per build, so it runs on the plain build
# only and is skipped, counted, on the others. By hand: test/soak --minutes 30.
. "$(dirname "$0")/lib.sh"

case $(basename "${MDO_BUILD:-build}") in
build) ;;
*) t_skip 1 "the 3-minute soak runs on the plain build only"; t_done; exit ;;
esac
"$TOP/test/soak" --minutes 3 --seed 13
