#!/bin/sh
# bench/long_seqs.sh: a sequence file of long sequences for timing the dense
# step ('user item item ...' per line, as Beauty.txt). Lengths are uniform in
# [MIN, MAX] (average (MIN + MAX) / 2), items uniform in [1, ITEMS]; the same
# SEED gives the same file.
#
#   bench/long_seqs.sh [USERS [MIN [MAX [ITEMS [SEED]]]]] > FILE
#
# Defaults: 4000 users, lengths 100 to 200 (average 150), 12000 items, seed 1.
# Then, for max length 200:
#   ./sasrec train --data FILE --max-len 200 --dense --epochs 1
#   /usr/bin/python3 ../shared/peer/sasrec_torch.py --data FILE --max-len 200 \
#       --threads 2 --blas-threads 1 --max-epochs-timing 3
set -eu
awk -v users="${1:-4000}" -v lo="${2:-100}" -v hi="${3:-200}" -v items="${4:-12000}" -v seed="${5:-1}" 'BEGIN {
    srand(seed)
    for (u = 1; u <= users; u++) {
        n = lo + int(rand() * (hi - lo + 1))
        line = u
        for (k = 0; k < n; k++) line = line " " (1 + int(rand() * items))
        print line
    }
}'
