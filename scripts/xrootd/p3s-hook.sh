#!/bin/sh
# The program behind `ofs.notify closew |…` (see xrd.cfg). XRootD starts it once and keeps it
# running; it must be readable and executable by the account xrootd runs as (and, as it holds
# the token and the key, by no one else: chmod 700).
#   P3S_SERVER      the p3s API (e.g. https://abc123.execute-api.eu-west-1.amazonaws.com)
#   P3S_TOKEN       a token with role submitter (p3s token create --role submitter --name xrootd)
#   P3S_XROOTD_KEY  the key of the ofs.notifymsg line in xrd.cfg (p3s hook xrootd --new-key)
#   --url-prefix    how payloads reach this server: files become root://<host>:<port>/<lfn>
export P3S_SERVER="${P3S_SERVER:-http://127.0.0.1:8080}"
export P3S_TOKEN="${P3S_TOKEN:?set P3S_TOKEN to a submitter token}"
export P3S_XROOTD_KEY="${P3S_XROOTD_KEY:?set P3S_XROOTD_KEY to the key of ofs.notifymsg in xrd.cfg}"
exec node /opt/p3s/dist/p3s.mjs hook xrootd --url-prefix "root://$(hostname -f):1094/" --log /var/log/xrootd/p3s-hook.log
