/**
 * The error catalog: one entry per failure an operator can meet, with a stable code, the message
 * of the troubleshooting guide (`error: <message>` is what the CLI prints first), the guide's likely
 * causes and fixes, and whether retrying can help. Logs, status `lastError`, metrics and tests use
 * the code; people read the message. Codes are never reused for another meaning.
 */

export interface CatalogEntry {
  /** Message template; `{name}` is replaced by the parameter of that name. */
  readonly message: string;
  /** Guide section this entry comes from, so `doctor` and docs can point there. */
  readonly guideSection: string;
  readonly causes: readonly string[];
  /** Fixes, each a sentence or a command with a `# comment`. */
  readonly solutions: readonly string[];
  /** Retrying the same thing later can succeed without anyone changing our configuration. */
  readonly retryable: boolean;
  /** The message names the fix: the CLI prints it alone, on one line. */
  readonly oneLine?: boolean;
}

const certExpiredSolutions = [
  'Files provider: generate new certificates (see the files provider guide for certificate generation)',
  'SPIFFE provider: check SPIRE agent — spire-agent healthcheck -socketPath /run/spire/agent.sock',
  'Vault provider: check Vault connectivity — vault token lookup',
  'Diagnosis: openssl x509 -in cert.pem -noout -enddate; compare with date -u',
];

export const catalog = {
  // --- Connection errors ---------------------------------------------------------------------
  ENROLL_CONNECTION_REFUSED: {
    message: 'connection refused to {address}',
    guideSection: 'Connection Errors / Connection Refused',
    causes: ['Access point not running', 'Firewall blocking port 4433', 'Incorrect address or port'],
    solutions: [
      'systemctl status ah-access-point      # Check if access point is running',
      'ss -tlnp | grep 4433                  # Check listening ports',
      'sudo iptables -L -n | grep 4433       # Test firewall',
      'sudo firewall-cmd --add-port=4433/tcp --permanent && sudo firewall-cmd --reload   # Open firewall (Linux)',
    ],
    retryable: true,
  },
  ENROLL_CONNECTION_TIMEOUT: {
    message: 'connection timed out after {timeout}',
    guideSection: 'Connection Errors / Connection Timeout',
    causes: ['Network routing issues', 'Intermediate firewall dropping packets', 'DNS resolution problems'],
    solutions: [
      'dig access-point.example.com          # Test DNS resolution',
      'traceroute access-point.example.com   # Test routing',
      'ah agent enroll --remote-server https://192.168.1.100:4433 ...   # Try connecting by IP',
    ],
    retryable: true,
  },
  ENROLL_NAME_NOT_RESOLVED: {
    message: 'cannot resolve host {host}: {detail}',
    guideSection: 'Connection Errors / Connection Timeout',
    causes: ['DNS resolution problems', 'Incorrect address'],
    solutions: ['dig {host}          # Test DNS resolution', 'ah agent enroll --remote-server https://192.168.1.100:4433 ...   # Try connecting by IP'],
    retryable: true,
  },
  ENROLL_CONNECTION_FAILED: {
    message: 'connection to {address} failed: {detail}',
    guideSection: 'Connection Errors',
    causes: ['Network routing issues', 'Access point restarting', 'Intermediate firewall resetting connections'],
    solutions: ['nc -zv {address}          # Test network connectivity to the access point', 'traceroute HOST           # Test routing'],
    retryable: true,
  },
  ENROLL_TLS_VERIFY_FAILED: {
    message: 'tls handshake failed: certificate verify failed',
    guideSection: 'Connection Errors / TLS Handshake Failed',
    causes: ['CA certificate mismatch', 'Certificate expired', 'Certificate not yet valid (clock skew)'],
    solutions: [
      'date; timedatectl status                                   # Check system time',
      'sudo systemctl start systemd-timesyncd                     # Sync time',
      'openssl verify -CAfile ca.pem server-cert.pem              # Verify CA matches server certificate',
      'openssl x509 -in server-cert.pem -noout -dates             # Check certificate dates',
    ],
    retryable: true,
  },
  ENROLL_SERVER_KEY_CHANGED: {
    message:
      'access point {address} presented a key that differs from the one trusted on first use ' +
      '(trusted {expected}, presented {actual}); if the access point was re-created on purpose, delete {file}',
    guideSection: 'Common Patterns / Development Setup',
    causes: ['The access point was re-created with a new dev identity (its state dir was removed)', 'Another process answers at this address'],
    solutions: ['rm {file}      # Trust the access point again on the next attempt', 'ah agent status --show-cert'],
    retryable: true,
  },
  ENROLL_PROTOCOL_ERROR: {
    message: 'fleet protocol error: {detail}',
    guideSection: 'Debugging Tools',
    causes: ['The peer is not an ah access point or executor', 'Versions of ah that do not speak the same protocol'],
    solutions: [
      'openssl s_client -connect access-point:4433 -alpn ah-fleet/1    # Check what answers on the port',
      'ah --version     # Compare versions on both sides',
    ],
    retryable: true,
  },
  ENROLL_LINK_LOST: {
    message: 'link to {address} lost: {detail}',
    guideSection: 'Rotation Issues / Connection Drops During Rotation',
    causes: ['The access point stopped or restarted', 'The network between executor and access point failed'],
    solutions: ['journalctl -u ah-access-point -f       # Check access point logs', 'ah agent status'],
    retryable: true,
  },

  // --- Certificate errors --------------------------------------------------------------------
  ENROLL_CERT_NOT_VALID_NOW: {
    message: 'certificate has expired or is not yet valid',
    guideSection: 'Certificate Errors / Certificate Expired',
    causes: ['Certificate expired', 'Certificate not yet valid (clock skew)', 'Rotation did not happen in time'],
    solutions: certExpiredSolutions,
    retryable: true,
  },
  ENROLL_CHAIN_INCOMPLETE: {
    message: 'unable to get local issuer certificate',
    guideSection: 'Certificate Errors / Certificate Chain Incomplete',
    causes: ['The trust bundle holds only part of the chain (e.g. the intermediate but not the root)'],
    solutions: [
      'openssl s_client -connect access-point:4433 -showcerts    # Diagnosis',
      'openssl x509 -in ca.pem -noout -subject -issuer           # Diagnosis',
      'cat intermediate-ca.pem root-ca.pem > ca-chain.pem        # Concatenate intermediate and root CAs',
      'ah agent enroll --ca ca-chain.pem ...                     # Use the complete chain',
    ],
    retryable: true,
  },
  ENROLL_KEY_MISMATCH: {
    message: 'private key does not match certificate',
    guideSection: 'Certificate Errors / Wrong Key for Certificate',
    causes: ['The key file belongs to another certificate'],
    solutions: [
      'openssl x509 -in cert.pem -noout -modulus | md5sum   # Compare with the next line: they should match',
      'openssl rsa -in key.pem -noout -modulus | md5sum',
      'Regenerate certificate and key pair together',
    ],
    retryable: false,
  },
  ENROLL_SAN_MISMATCH: {
    message: 'certificate SAN does not match expected pattern',
    guideSection: 'Certificate Errors / Certificate SAN Mismatch',
    causes: ['The certificate names an identity outside the allowed pattern'],
    solutions: [
      'openssl x509 -in cert.pem -noout -text | grep -A1 "Subject Alternative Name"   # Diagnosis',
      'Regenerate certificate with correct SANs',
      'Update access point --executor-san-uri-prefix to match',
      'For SPIFFE, ensure registration entry uses correct SPIFFE ID',
    ],
    retryable: true,
  },

  // --- Identity provider errors --------------------------------------------------------------
  ENROLL_PERMISSION_DENIED: {
    message: 'permission denied reading {path}',
    guideSection: 'Identity Provider Errors / Files Provider',
    causes: ['The file or a directory above it is not readable by the executor user'],
    solutions: ['sudo chown agent-harbor:agent-harbor /etc/ah/*.pem', 'sudo chmod 600 /etc/ah/*-key.pem', 'sudo chmod 644 /etc/ah/cert.pem /etc/ah/ca.pem'],
    retryable: false,
  },
  ENROLL_FILE_NOT_FOUND: {
    message: 'no such file: {path}',
    guideSection: 'Identity Provider Errors / Files Provider',
    causes: ['Wrong path', 'The file was not created yet'],
    solutions: ['ls -la {dir}     # Verify paths and file existence'],
    retryable: false,
  },
  ENROLL_NO_IDENTITY_ISSUED: {
    message: 'no identity issued',
    guideSection: 'Identity Provider Errors / SPIFFE Provider',
    causes: ['No registration entry for this workload', 'Selector mismatch (process UID/GID)'],
    solutions: [
      'spire-agent healthcheck -socketPath /run/spire/agent.sock                          # agent health',
      'spire-agent api fetch x509 -socketPath /run/spire/agent.sock -write /tmp/svid      # available SVIDs',
      'spire-server entry show -socketPath /run/spire/server.sock                         # registration entries',
      'spire-server entry create -socketPath /run/spire/server.sock -parentID "spiffe://example.org/spire/agent/join_token/agent-1" -spiffeID "spiffe://example.org/ah/agent/executor-1" -selector "unix:user:executor"',
      'id     # Fix selector mismatch: check process UID/GID and the entry selectors',
    ],
    retryable: true,
  },
  ENROLL_WORKLOAD_API_UNAVAILABLE: {
    message: 'failed to connect to Workload API: {path}: no such file',
    guideSection: 'Identity Provider Errors / SPIFFE Provider',
    causes: ['SPIRE agent not running', 'Wrong socket path'],
    solutions: [
      'systemctl status spire-agent     # Check SPIRE agent is running',
      'ls -la /run/spire/               # Verify socket path',
      'stat /run/spire/agent.sock       # Check socket permissions',
    ],
    retryable: true,
  },
  ENROLL_WORKLOAD_API_ERROR: {
    message: 'Workload API at {path} failed: {detail}',
    guideSection: 'Identity Provider Errors / SPIFFE Provider',
    causes: ['The SPIRE agent restarted or dropped the stream', 'The agent refused the request'],
    solutions: ['spire-agent healthcheck -socketPath /run/spire/agent.sock     # agent health', 'systemctl status spire-agent'],
    retryable: true,
  },
  ENROLL_INVALID_SVID: {
    message: 'invalid X.509-SVID from the Workload API: {detail}',
    guideSection: 'SPIRE Debugging',
    causes: ['The SPIRE agent sent a certificate that breaks the X.509-SVID rules', 'A damaged response'],
    solutions: ['spire-agent api fetch x509 -socketPath /run/spire/agent.sock -write /tmp/svid', 'openssl x509 -in /tmp/svid.0.pem -noout -text'],
    retryable: true,
  },
  ENROLL_SERVER_ID_MISMATCH: {
    message: 'server SPIFFE ID mismatch: expected {expected}, got {actual}',
    guideSection: 'Identity Provider Errors / SPIFFE Provider',
    causes: ['--expected-server-id differs from the access point identity', 'Trust domain misconfigured'],
    solutions: [
      "Verify --expected-server-id matches access point's SPIFFE ID",
      'Check trust domain configuration on both sides',
      'Verify registration entry for access point',
    ],
    retryable: true,
  },
  ENROLL_VAULT_AUTH_FAILED: {
    message: 'vault authentication failed: {detail}',
    guideSection: 'Identity Provider Errors / Vault Provider',
    causes: ['Wrong role ID or secret ID', 'Secret ID expired', 'AppRole not enabled'],
    solutions: [
      'vault login -method=approle role_id=$VAULT_ROLE_ID secret_id=$VAULT_SECRET_ID   # Diagnosis',
      'Verify role ID and secret ID are correct',
      "Check secret ID hasn't expired",
      'vault auth list     # Verify AppRole is enabled',
    ],
    retryable: true,
  },
  ENROLL_VAULT_ISSUE_FAILED: {
    message: 'failed to issue certificate: {detail}',
    guideSection: 'Identity Provider Errors / Vault Provider',
    causes: ['The PKI role does not allow the requested name or TTL'],
    solutions: [
      'vault read pki_int/roles/executor     # Diagnosis',
      'vault write pki_int/roles/executor allowed_domains="executor.example.com,internal.example.com" allow_subdomains=true',
    ],
    retryable: true,
  },
  ENROLL_VAULT_SEALED: {
    message: 'vault is sealed',
    guideSection: 'Identity Provider Errors / Vault Provider',
    causes: ['Vault was restarted and not unsealed'],
    solutions: ['vault operator unseal <key1>     # repeat with <key2>, <key3>'],
    retryable: true,
  },

  ENROLL_VAULT_UNREACHABLE: {
    message: 'cannot reach vault at {addr}: {detail}',
    guideSection: 'Identity Provider Errors / Vault Provider',
    causes: ['Vault is down or restarting', 'Wrong --vault-addr / VAULT_ADDR', 'A firewall between executor and Vault'],
    solutions: ['vault status     # Check Vault is up and unsealed', 'curl -s $VAULT_ADDR/v1/sys/seal-status'],
    retryable: true,
  },
  ENROLL_VAULT_BAD_RESPONSE: {
    message: 'unexpected response from vault at {addr} for {path}: {detail}',
    guideSection: 'Identity Provider Errors / Vault Provider',
    causes: ['A proxy or load balancer answered instead of Vault', '--vault-path does not point at a PKI issue endpoint'],
    solutions: ['curl -si $VAULT_ADDR/v1/sys/seal-status     # What answers at that address?', 'vault read pki_int/roles/executor'],
    retryable: true,
  },

  // --- mTLS errors ---------------------------------------------------------------------------
  ENROLL_CLIENT_CERT_REQUIRED: {
    message: 'client certificate required',
    guideSection: 'mTLS Errors / Client Certificate Required',
    causes: ["The access point requires a client certificate but the executor isn't providing one"],
    solutions: [
      'Verify executor identity provider is configured',
      'ah agent enroll --identity files --cert cert.pem --key key.pem --ca ca.pem ...   # Check certificate is being loaded',
    ],
    retryable: true,
  },
  ENROLL_CLIENT_CERT_REJECTED: {
    message: 'client certificate rejected: certificate signed by unknown authority',
    guideSection: 'mTLS Errors / Client Certificate Rejected',
    causes: ["The access point does not trust the executor's CA"],
    solutions: [
      "ah agent access-point --ca /path/to/executor-ca.pem ...   # Access point must trust executor's CA",
      'Or use same CA for both access point and executors',
    ],
    retryable: true,
  },
  ENROLL_SERVER_UNKNOWN_AUTHORITY: {
    message: 'x509: certificate signed by unknown authority',
    guideSection: 'mTLS Errors / Server Certificate Rejected',
    causes: ["The executor does not trust the access point's CA"],
    solutions: [
      "ah agent enroll --ca /path/to/access-point-ca.pem ...   # Executor must trust access point's CA",
      'For SPIFFE, the CA is provided by SPIRE automatically',
    ],
    retryable: true,
  },

  // --- Identity rules at the fleet link (hardening) -------------------------------------------
  ENROLL_CLIENT_CERT_INVALID: {
    message: 'client certificate rejected: {reason}',
    guideSection: 'mTLS Errors / Client Certificate Rejected',
    causes: [
      'The executor certificate is not a proper leaf (a CA, or allowed to sign certificates or CRLs, or without digitalSignature)',
      'The certificate is not for client authentication (extended key usage without clientAuth)',
      'A certificate above the leaf is not a signing CA, or names a workload itself',
    ],
    solutions: [
      'openssl x509 -in cert.pem -noout -text | grep -A1 -E "Basic Constraints|Key Usage"   # Diagnosis',
      'Issue executor certificates as leaves: basicConstraints CA:FALSE, keyUsage digitalSignature, extendedKeyUsage clientAuth, one URI SAN (the SPIFFE ID)',
      'Serve only CA certificates (CA:TRUE, keyCertSign, no workload SPIFFE ID) above the leaf',
    ],
    retryable: true,
  },
  ENROLL_NAME_NOT_IN_CERTIFICATE: {
    message: 'executor name {name} is not borne by its certificate {executorId}',
    guideSection: 'Certificate Errors / Certificate SAN Mismatch',
    causes: ['--name differs from the name the certificate was issued for (the last segment of its SPIFFE ID, its CN, or a DNS SAN)'],
    solutions: [
      'openssl x509 -in cert.pem -noout -subject -ext subjectAltName   # Diagnosis: the names the certificate bears',
      'ah agent enroll --name <last segment of the SPIFFE ID> ...       # Claim the name the certificate bears',
      'Regenerate the certificate for this executor name',
    ],
    retryable: true,
  },
  ENROLL_DUPLICATE_IDENTITY: {
    message: 'identity {executorId} is already connected from {existing}; refused (--duplicate-identity reject)',
    guideSection: 'Certificate Errors / Certificate SAN Mismatch',
    causes: [
      'Two executors were given the same identity (copied certificate files, one SPIFFE registration for two machines)',
      'The executor restarted with a new key while its old link is still open',
    ],
    solutions: [
      'ah agent fleet      # On the access point: which address holds the identity',
      'Give each executor its own identity (its own certificate and SPIFFE ID)',
      'Stop the other holder, or wait until its link times out (3 heartbeat intervals)',
    ],
    retryable: true,
  },
  ENROLL_DUPLICATE_IDENTITY_FLAPPING: {
    message: 'identity {executorId} is held by two executors that keep superseding each other: {first} and {second}',
    guideSection: 'Certificate Errors / Certificate SAN Mismatch',
    causes: ['Two running executors hold certificates for the same identity'],
    solutions: ['Give each executor its own identity (its own certificate and SPIFFE ID)', 'Stop one of the two executors'],
    retryable: true,
  },
  ENROLL_SUPERSEDED: {
    message: 'another executor with identity {executorId} connected to {address}; this link was closed (superseded)',
    guideSection: 'Certificate Errors / Certificate SAN Mismatch',
    causes: ['Two executors hold the same identity', 'This executor restarted elsewhere with the same identity'],
    solutions: ['ah agent fleet      # On the access point: which address holds the identity', 'Give each executor its own identity'],
    retryable: true,
  },

  ENROLL_UNREADABLE_PEM: {
    message: 'cannot read {what} from {path}: {detail}',
    guideSection: 'Certificate Errors',
    causes: ['The file is not PEM, or was cut short while being written', 'The wrong file was given'],
    solutions: [
      'openssl x509 -in cert.pem -noout -text     # Inspect the certificate file',
      'openssl pkey -in key.pem -noout            # Inspect the key file',
      'Write certificate files atomically (write a temporary file, then rename it over the old one)',
    ],
    retryable: false,
  },
  ENROLL_CHAIN_BROKEN: {
    message: 'certificate chain in {path} is broken: {detail}',
    guideSection: 'Certificate Errors / Certificate Chain Incomplete',
    causes: ['The certificates in the file are not leaf first, each followed by its issuer', 'An intermediate from another CA'],
    solutions: [
      'openssl crl2pkcs7 -nocrl -certfile cert.pem | openssl pkcs7 -print_certs -noout     # List subject and issuer of each',
      'cat leaf.pem intermediate-ca.pem > cert.pem     # Leaf first, then its issuer',
    ],
    retryable: false,
  },
  ENROLL_RENEWED_NOT_NEWER: {
    message: 'renewed certificate refused: serial {serial} expires {notAfter}, before the current one ({currentNotAfter})',
    guideSection: 'Rotation Issues / Rotation Not Happening',
    causes: ['An older certificate was written over the current one', 'The issuer returned a certificate with a shorter life'],
    solutions: ['ah agent status --show-cert     # Check certificate expiry', 'openssl x509 -in cert.pem -noout -dates'],
    retryable: false,
  },

  // --- Daemons and local state ---------------------------------------------------------------
  ENROLL_LISTEN_FAILED: {
    message: 'cannot listen on {address}: {detail}',
    guideSection: 'Connection Errors / Connection Refused',
    causes: ['Another process already listens on the port', 'The address is not local to this machine'],
    solutions: ['ss -tlnp | grep {port}      # Find the process on the port'],
    retryable: false,
  },
  ENROLL_ALREADY_RUNNING: {
    message: 'an {role} named {name} is already running (status socket {socket})',
    guideSection: 'Quick Diagnostics / Check Enrollment Status',
    causes: ['A second daemon was started with the same --name and --state-dir'],
    solutions: ['ah agent status --name {name}', 'Start the new one with another --name or --state-dir'],
    retryable: false,
  },
  ENROLL_NOT_RUNNING: {
    message: 'no {role} is running in {stateDir}',
    guideSection: 'Quick Diagnostics / Check Enrollment Status',
    causes: ['The daemon is not started', 'It runs with another --state-dir or AH_STATE_DIR'],
    solutions: ['systemctl status ah-executor ah-access-point', 'ah agent status --state-dir DIR'],
    retryable: false,
  },
  ENROLL_STATE_DIR_UNUSABLE: {
    message: 'cannot use state dir {path}: {detail}',
    guideSection: 'Identity Provider Errors / Files Provider',
    causes: ['The directory is not writable by this user'],
    solutions: ['ls -la {path}', 'ah agent ... --state-dir DIR     # Use a directory this user owns'],
    retryable: false,
  },
  ENROLL_AUDIT_LOG_FAILED: {
    message: 'cannot write audit log {path}: {detail}',
    guideSection: 'Common Patterns / Production Checklist',
    causes: ['The disk holding the audit log is full', 'The file or its directory is not writable by the service user, or the directory does not exist'],
    solutions: [
      'df -h $(dirname {path})                # Check free space',
      'ls -la {path}                          # Check owner and mode (the service user must write it)',
      'sudo systemctl reload ah-access-point  # Reopen the audit log once fixed (SIGHUP)',
    ],
    retryable: true,
  },
  // --- ah agent doctor: what the guide asks operators to check, where it has no message --------
  ENROLL_KEY_FILE_MODE: {
    message: 'private key {path} is readable by group or others (mode {mode})',
    guideSection: 'Identity Provider Errors / Files Provider',
    causes: ['The key was written with a permissive umask, or copied without its mode', 'Anyone who can read the key can enroll as this executor'],
    solutions: ['sudo chown agent-harbor:agent-harbor /etc/ah/*.pem', 'sudo chmod 600 /etc/ah/*-key.pem', 'sudo chmod 644 /etc/ah/cert.pem /etc/ah/ca.pem'],
    retryable: false,
  },
  ENROLL_RENEWAL_OVERDUE: {
    message: 'certificate serial {serial} is past its renewal point ({renewAt}): {left} left',
    guideSection: 'Rotation Issues / Rotation Not Happening',
    causes: [
      'Files provider: nothing wrote renewed certificate files',
      'SPIFFE provider: the SPIRE agent does not rotate the SVID',
      'Vault provider: the Vault token is not valid',
    ],
    solutions: [
      'ah agent status --show-cert                              # Check certificate expiry',
      'journalctl -u ah-executor | grep -i "rotat\\|renew"',
      'Files provider: ensure file watching is working — trigger an inotify event with touch /etc/ah/cert.pem',
      'SPIFFE provider: check SPIRE agent health',
      'Vault provider: check Vault token is valid — vault token lookup',
    ],
    retryable: false,
  },
  ENROLL_CLOCK_SKEW: {
    message: 'clock skew: the access point at {address} is {skew} {direction} this machine (more than {threshold})',
    guideSection: 'Connection Errors / TLS Handshake Failed',
    causes: ['Certificate not yet valid (clock skew)', 'One of the two machines does not synchronise its time'],
    solutions: [
      'date; timedatectl status                                   # Check system time',
      'sudo systemctl start systemd-timesyncd                     # Sync time',
    ],
    retryable: true,
  },
  ENROLL_PRODUCTION_UNTRUSTED_CA: {
    message: 'certificates are not issued by a trusted CA: {detail}',
    guideSection: 'Common Patterns / Production Checklist',
    causes: ['The dev identity (self-signed, trusted on first use) is meant for development only', 'A self-signed certificate was given as --cert'],
    solutions: [
      'ah agent enroll --identity files --cert cert.pem --key key.pem --ca ca.pem ...   # Certificates from your CA',
      'Or --identity spiffe (SPIRE issues the SVIDs) or --identity vault (Vault PKI issues them)',
    ],
    retryable: false,
  },
  ENROLL_PRODUCTION_LONG_TTL: {
    message: 'certificate lifetime is {ttl}: production certificates should live hours, not days',
    guideSection: 'Common Patterns / Production Checklist',
    causes: ['The issuer is configured for long-lived certificates'],
    solutions: [
      'ah agent enroll --identity vault --vault-ttl 1h ...     # Vault: request hours',
      'spire-server entry create ... -x509SVIDTTL 3600         # SPIFFE: X.509-SVID TTL of the registration entry',
      'Files provider: have your PKI issue certificates for hours; they are reloaded and rotated as they change',
    ],
    retryable: false,
  },
  ENROLL_PRODUCTION_ROTATION_THRESHOLD: {
    message: 'rotation threshold {threshold} is not sane: {detail}',
    guideSection: 'Rotation Issues / Connection Drops During Rotation',
    causes: ['Rotation happens too late (near expiry)', 'Rotation happens so early that certificates are renewed all the time'],
    solutions: [
      'ah agent enroll --vault-renewal-threshold 0.5 ...   # Configure earlier rotation threshold (renew at 50% TTL)',
      'Use longer certificate TTLs to allow more time for rotation',
    ],
    retryable: false,
  },
  ENROLL_PRODUCTION_NO_SAN_VALIDATION: {
    message: 'the access point does not validate executor certificate SANs: {detail}',
    guideSection: 'Common Patterns / Production Checklist',
    causes: ['The access point admits any certificate its CA issued (or any at all, in dev mode)'],
    solutions: [
      'ah agent access-point --ca /path/to/executor-ca.pem --executor-san-uri-prefix spiffe://example.org/ah/agent/ ...',
      'Update access point --executor-san-uri-prefix to match',
    ],
    retryable: false,
  },
  ENROLL_PRODUCTION_NO_AUDIT_LOG: {
    message: 'audit logging is not enabled: {detail}',
    guideSection: 'Common Patterns / Production Checklist',
    causes: ['The daemon runs without --audit-log', 'The audit log file cannot be written'],
    solutions: ['ah agent access-point --audit-log /var/log/ah/audit.log ...   # One JSON line per enrollment, rejection, rotation, departure'],
    retryable: false,
  },
  ENROLL_PRODUCTION_NO_METRICS: {
    message: 'metrics are not enabled: {detail}',
    guideSection: 'Common Patterns / Production Checklist',
    causes: ['The daemon runs without --metrics-listen, so nothing can alert on certificate expiry'],
    solutions: [
      'ah agent access-point --metrics-listen 127.0.0.1:9464 ...   # Serve Prometheus /metrics; alert on certificate expiry',
      'ah agent enroll --metrics-listen 127.0.0.1:9465 ...         # The same on executors',
    ],
    retryable: false,
  },

  // --- ah agent replay / visualize: the log they read ------------------------------------------
  ENROLL_LOG_UNREADABLE: {
    message: 'cannot replay {path}: {detail}',
    guideSection: 'Debugging Tools / Enable Debug Logging',
    causes: [
      'The log was cut short while it was written or copied',
      'A line was edited by hand, or the file is not an ah log',
      'The log was recorded without --log-level debug, so it has no ah_machine lines',
    ],
    solutions: [
      'ah agent enroll --log-level debug ...                  # Record every machine event (component ah_machine)',
      'journalctl -u ah-executor -o cat > executor.log         # Collect the log as JSON lines',
    ],
    retryable: false,
  },
  // --- Access point under load or failing closed -------------------------------------------
  ENROLL_AUDIT_UNAVAILABLE: {
    message: 'enrollment refused: the audit log cannot be written (--audit-required)',
    guideSection: 'Common Patterns / Production Checklist',
    causes: ['The access point runs with --audit-required and its audit log cannot be written: the disk is full, or the file or its directory is not writable'],
    solutions: [
      'ah agent fleet --json        # On the access point host: audit.path and audit.lastError say which file fails and why',
      'df -h /var/log/ah            # Free space where the audit log is; enrollments resume by themselves once a record is written',
    ],
    retryable: true,
  },

  // --- Limits: settings and peers' values outside what ah accepts ------------------------------
  ENROLL_HEARTBEAT_INTERVAL_OUT_OF_RANGE: {
    message: 'the access point asked for a heartbeat every {interval}, outside the range this executor accepts ({range})',
    guideSection: 'Connection Errors',
    causes: [
      'The access point runs with a heartbeat interval outside {range} (an embedding or a version of ah that does not check it)',
      'The peer is not an ah access point',
    ],
    solutions: ['ah agent access-point --heartbeat-interval 5s ...   # An interval within {range}', 'ah --version     # Compare versions on both sides'],
    retryable: true,
  },
  // --- The state dir and the status sockets ----------------------------------------------------
  ENROLL_STATE_DIR_INSECURE: {
    message: '{what} {path} {problem}: {fix}',
    guideSection: 'Identity Provider Errors / Files Provider',
    causes: [
      'Another user created or changed it: a key or a trusted access point pin in it may be theirs',
      'It was made by hand, or copied, with a permissive umask or mode',
    ],
    solutions: ['ls -la {path}      # Check who made it and what it holds', '{fix}'],
    retryable: false,
    oneLine: true,
  },
  ENROLL_STATE_DIR_NOT_A_DIRECTORY: {
    message: 'state directory {path} is not a directory',
    guideSection: 'Quick Diagnostics / Check Enrollment Status',
    causes: ['--state-dir or AH_STATE_DIR names a file'],
    solutions: ['ls -la {path}', 'ah agent ... --state-dir DIR     # The directory the daemons use'],
    retryable: false,
    oneLine: true,
  },
  ENROLL_STATUS_SOCKET_UNREACHABLE: {
    message: 'cannot reach the status socket {socket}: {detail}',
    guideSection: 'Quick Diagnostics / Check Enrollment Status',
    causes: [
      'The status sockets are reachable only by the user that runs the daemon, and root',
      'Something other than an ah daemon listens on the socket, or the daemon is stuck',
    ],
    solutions: ['sudo ah agent status      # Or run as the user that runs the daemon', 'ls -la {socket}'],
    retryable: false,
    oneLine: true,
  },
  ENROLL_STATUS_DIR_UNREADABLE: {
    message: 'cannot list the status sockets in {path}: {detail}',
    guideSection: 'Quick Diagnostics / Check Enrollment Status',
    causes: ['The state dir is reachable only by the user that runs the daemons, and root'],
    solutions: ['sudo ah agent status      # Or run as the user that runs the daemon', 'ls -la {path}'],
    retryable: false,
    oneLine: true,
  },
  // --- Diagnosis: the lone leaf, and the fleet doctor's findings --------------------------------
  ENROLL_CHAIN_LONE_LEAF: {
    message: 'unable to get local issuer certificate',
    guideSection: 'Certificate Errors / Certificate Chain Incomplete',
    causes: [
      'The {peer} sends only its own certificate ({subject}); its issuer {issuer} (authority key id {authorityKeyId}) is neither sent along nor in {bundle}',
      'Or {bundle} holds the wrong CA',
    ],
    solutions: [
      'cat cert.pem intermediate.pem > fullchain.pem        # Serve the full chain: the certificate, then its intermediate, and give --cert fullchain.pem',
      'Or add the CA that issued it ({issuer}) to {bundle}',
      'openssl s_client -connect access-point:4433 -showcerts    # Diagnosis: how many certificates are sent',
    ],
    retryable: true,
  },
  ENROLL_FLEET_RENEWAL_OVERDUE: {
    message: 'executor {executorId} holds certificate serial {serial} past its renewal point ({renewAt}): {left} left',
    guideSection: 'Rotation Issues / Rotation Not Happening',
    causes: ['The executor does not renew: files not replaced, SPIRE agent unhealthy, or its Vault token expired'],
    solutions: [
      'ah agent status --show-cert                          # On the executor: check certificate expiry',
      'journalctl -u ah-executor | grep -i "rotat\\|renew"    # On the executor: what the rotation did',
      'Files provider: ensure file watching is working — touch /etc/ah/cert.pem',
      'SPIFFE provider: check SPIRE agent health; Vault provider: vault token lookup',
    ],
    retryable: true,
  },
  ENROLL_FLEET_EXPIRING: {
    message: 'executor {executorId} holds certificate serial {serial} that expires in {left} ({notAfter})',
    guideSection: 'Rotation Issues / Connection Drops During Rotation',
    causes: ['Rotation happens too late (near expiry)', 'The certificate TTL is short and nothing renewed it yet'],
    solutions: [
      'ah agent enroll --vault-renewal-threshold 0.5 ...    # Configure earlier rotation threshold (renew at 50% TTL)',
      'Use longer certificate TTLs to allow more time for rotation',
    ],
    retryable: true,
  },
  ENROLL_FLEET_CLOCK_SKEW: {
    message: 'clock skew: executor {executorId} at {address} is {skew} {direction} the access point (more than {threshold})',
    guideSection: 'Connection Errors / TLS Handshake Failed',
    causes: ["Certificate not yet valid (clock skew): the executor's clock is not synchronised"],
    solutions: [
      'date; timedatectl status                                   # On the executor: check system time',
      'sudo systemctl start systemd-timesyncd                     # Sync time',
    ],
    retryable: true,
  },
  ENROLL_FLEET_REJECTIONS: {
    message: 'enrollments rejected in the last hour with {code}: {count} ({example}); top addresses: {addresses}',
    guideSection: 'Getting Help',
    causes: ['Executors (or something else) keep trying with a configuration the access point refuses', 'A scanner or a misconfigured client floods the port'],
    solutions: [
      'Run ah agent doctor --remote-server ... on one of those executors: its first failing check names the fix',
      'sudo iptables -L -n | grep 4433       # A client that should not be there: firewall it',
    ],
    retryable: true,
  },
  ENROLL_FLEET_DUPLICATE_IDENTITY: {
    message: 'identity {executorId} is held by two executors: {first} and {second} ({count} takeovers in the last hour)',
    guideSection: 'Certificate Errors / Certificate SAN Mismatch',
    causes: ['Two executors were given the same identity (copied certificate files, one SPIFFE registration for two machines)'],
    solutions: ['Give each executor its own identity (its own certificate and SPIFFE ID)', 'Stop one of the two executors'],
    retryable: true,
  },
  ENROLL_FLEET_FLAPPING: {
    message: 'executor {executorId} reconnected {count} times in the last hour (more than {max})',
    guideSection: 'Rotation Issues / Connection Drops During Rotation',
    causes: [
      'The link keeps dropping (network, heartbeats missed)',
      'Rotation happens too late or the server does not accept the new certificate',
      'Two holders of one identity take turns',
    ],
    solutions: ['journalctl -u ah-executor -f        # On the executor: why the link closes', 'ah agent enroll --log-level debug ...'],
    retryable: true,
  },
  // --- The exec identity provider (--identity exec --dynamic-cert-cmd CMD) ----------------------
  // {command} is the program as typed (its first word: arguments may hold tokens); {stderr} is
  // empty, or ` (stderr: <the command's first stderr line>)` with key material left out. The
  // guide has no section of its own for this provider: its parent section is named.
  ENROLL_EXEC_NOT_STARTED: {
    message: 'identity command {command} could not be started: {detail}',
    guideSection: 'Identity Provider Errors',
    causes: ['The program does not exist or is not executable by the daemon user', 'A shell command given without --dynamic-cert-shell'],
    solutions: ['ls -la $(command -v {command})     # Does it exist, may this user run it?', 'ah agent doctor ... --identity exec --dynamic-cert-cmd ...'],
    retryable: false,
  },
  ENROLL_EXEC_FAILED: {
    message: 'identity command {command} exited with {status}{stderr}',
    guideSection: 'Identity Provider Errors',
    causes: ['The certificate broker the command asks is down or refused this host', 'The command lacks its own credentials'],
    solutions: ['Run the command by hand as the daemon user and read its stderr', 'journalctl -u ah-executor | grep identity_command_stderr'],
    retryable: true,
  },
  ENROLL_EXEC_TIMEOUT: {
    message: 'identity command {command} did not finish within {timeout} and was killed{stderr}',
    guideSection: 'Identity Provider Errors',
    causes: ['The broker does not answer', 'The command waits for input (its stdin is closed) or for a lock'],
    solutions: ['Run the command by hand with </dev/null and time it', 'ah agent enroll --dynamic-cert-timeout 2m ...   # If it is merely slow'],
    retryable: true,
  },
  ENROLL_EXEC_OUTPUT_TOO_LARGE: {
    message: 'identity command {command} printed more than {limit} on stdout and was killed{stderr}',
    guideSection: 'Identity Provider Errors',
    causes: ['The command prints logs or a whole CA store on stdout; only PEM belongs there (logs go to stderr)'],
    solutions: ["Send the command's diagnostics to stderr (>&2)", 'Print only the chain, the key and the CA bundle'],
    retryable: false,
  },
  ENROLL_EXEC_BAD_OUTPUT: {
    message: 'identity command {command} printed no usable PEM: {detail}{stderr}',
    guideSection: 'Identity Provider Errors',
    causes: ['The command printed an error page, logs or nothing on stdout', 'A block is cut short or is not a certificate or an unencrypted private key'],
    solutions: ['{command} ... | grep -- "-----BEGIN"     # Which PEM blocks it prints', 'openssl x509 -noout -text     # Inspect each certificate'],
    retryable: false,
  },
  ENROLL_EXEC_NO_KEY: {
    message: 'identity command {command} printed no private key{stderr}',
    guideSection: 'Identity Provider Errors',
    causes: ['The command prints the certificate only', 'The key is written to a file instead of stdout'],
    solutions: ['Print the key on stdout too, as a PRIVATE KEY (or RSA/EC PRIVATE KEY) PEM block, unencrypted'],
    retryable: false,
  },
  ENROLL_EXEC_KEY_MISMATCH: {
    message: 'identity command {command}: private key does not match certificate{stderr}',
    guideSection: 'Certificate Errors / Wrong Key for Certificate',
    causes: ['The command prints a key from another run or another host', 'The broker returned a certificate for another key'],
    solutions: ['Print the key the certificate was issued for, from the same run', 'Regenerate certificate and key pair together'],
    retryable: false,
  },
  ENROLL_EXEC_AMBIGUOUS_PEM: {
    message: 'identity command {command} printed PEM that cannot be sorted into chain, key and CA bundle: {detail}',
    guideSection: 'Identity Provider Errors',
    causes: [
      'The output must hold one end-entity certificate (the leaf), the CAs that sign it (the chain) and self-signed root CAs (the CA bundle)',
      'A second leaf, a second key, or a CA certificate that is neither in the chain nor a self-signed root',
    ],
    solutions: ['Print one leaf, its key, its intermediates and the root CA(s) only', 'See the exec provider section of the README for the rule'],
    retryable: false,
  },
  // --- ah agent support-bundle ------------------------------------------------------------------
  ENROLL_SUPPORT_BUNDLE_EXISTS: {
    message: '{path} exists: give --force to replace it, or another --out',
    guideSection: 'Getting Help',
    causes: ['A bundle made earlier has that name', '--out names a file that is not a bundle'],
    solutions: ['ah agent support-bundle --out FILE.tar.gz --force     # Replace it', 'ah agent support-bundle --out OTHER.tar.gz'],
    retryable: false,
    oneLine: true,
  },
  ENROLL_SUPPORT_BUNDLE_UNWRITABLE: {
    message: 'cannot write the support bundle {path}: {detail}',
    guideSection: 'Getting Help',
    causes: ['The directory does not exist, or this user may not write in it', 'The disk is full'],
    solutions: ['ah agent support-bundle --out /tmp/ah-support.tar.gz     # A directory this user can write'],
    retryable: false,
    oneLine: true,
  },
  // Several access points: drain and failover (docs/fleet-link.md).
  ENROLL_ACCESS_POINT_DRAINING: {
    message: 'access point {address} is draining (shutting down or restarting) and takes no new links; trying another access point',
    guideSection: 'Connection Errors / Connection Refused',
    causes: ['The access point was sent SIGTERM or `ah agent access-point --drain`', 'A balancer still sends new connections to it'],
    solutions: [
      'ah agent enroll --remote-server https://ap-1:4433 --remote-server https://ap-2:4433 ...   # Give the executor several access points',
      'Make the balancer health-check /readyz (503 while draining)',
    ],
    retryable: true,
  },
  // --- Fleet-wide roster (--roster etcd://…, docs/roster.md) ----------------------------------
  ENROLL_ROSTER_UNREACHABLE: {
    message: 'cannot reach the roster on etcd at {endpoints}: {detail}',
    guideSection: 'Connection Errors',
    causes: [
      'etcd not running or not listening on that address',
      'A firewall between the access point and etcd',
      'etcds:// without the right --roster-ca, --roster-cert or --roster-key',
    ],
    solutions: [
      'curl -s http://ETCD_HOST:2379/health   # Does etcd answer?',
      'systemctl status etcd                  # Is it running?',
      'Executors are still admitted and served meanwhile; the roster catches up once etcd answers',
    ],
    retryable: true,
  },
  ENROLL_ROSTER_NOT_REGISTERED: {
    message: 'access point {accessPoint} is not in the roster on etcd: {detail}',
    guideSection: 'Quick Diagnostics / Check Enrollment Status',
    causes: [
      'etcd was away and the access point has not written its state again yet',
      'Its lease expired (the process was paused longer than --roster-lease-ttl)',
    ],
    solutions: [
      'ah agent fleet --access-points   # Which access points the roster lists',
      'Check the access point log for roster_disconnected and roster_connected',
    ],
    retryable: true,
  },
  ENROLL_ROSTER_WATCH_LAG: {
    message: "the roster copy of access point {accessPoint} is {lag} revisions behind etcd: other access points' changes reach it late",
    guideSection: 'Quick Diagnostics / Check Enrollment Status',
    causes: ['The access point is overloaded and reads its watch slowly', 'etcd is overloaded'],
    solutions: [
      'Check the access point CPU and the metric ah_roster_watch_revision_lag',
      'Check etcd with its own metrics (etcd_debugging_mvcc_slow_watcher_total)',
    ],
    retryable: true,
  },
  ENROLL_INTERNAL: {
    message: 'internal error: {detail}',
    guideSection: 'Getting Help',
    causes: ['A bug in ah'],
    solutions: ['Collect debug logs from both access point and executor (--log-level debug)', 'Note the exact error message'],
    retryable: true,
  },
  // --- Configuration files (TOML: /etc/agent-harbor/config.toml, the user's, --config FILE) -----
  ENROLL_CONFIG_INVALID: {
    message: '{where}: {problem}',
    guideSection: 'Quick Diagnostics / Configuration',
    causes: ['A key misspelt or in the wrong table, a value of the wrong type, or one its flag refuses'],
    solutions: ['ah config show agent enroll --explain      # What each value is and where it comes from', 'See docs/configuration.md for every key'],
    retryable: false,
    oneLine: true,
  },
  ENROLL_CONFIG_UNREADABLE: {
    message: 'cannot read configuration file {path}: {detail}',
    guideSection: 'Quick Diagnostics / Configuration',
    causes: ['--config names a file that does not exist', 'The file is not readable by the user that runs ah'],
    solutions: ['ls -la {path}'],
    retryable: false,
    oneLine: true,
  },
  ENROLL_CONFIG_SECRET_EXPOSED: {
    message: '{path} holds {key} and is readable by group or others (mode {mode}): chmod 600 {path}',
    guideSection: 'Quick Diagnostics / Configuration',
    causes: ['A configuration file with a Vault secret ID or token was installed with a permissive mode'],
    solutions: ['chmod 600 {path}', 'Or keep the secret in a file of its own: vault-secret-id-file = "/etc/ah/vault-secret-id"'],
    retryable: false,
    oneLine: true,
  },
} as const satisfies Record<string, CatalogEntry>;

export type ErrorCode = keyof typeof catalog;

export function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(catalog, code);
}

export type ErrorParams = Readonly<Record<string, string>>;

/** Fill a template; unknown placeholders stay visible rather than becoming "undefined". */
export function fillTemplate(template: string, params: ErrorParams): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => (key in params ? params[key]! : whole));
}

/**
 * The message for a code. Codes this build does not know (sent by a newer peer in a `reject`)
 * fall back to the message the peer sent along.
 */
export function renderMessage(code: string, params: ErrorParams = {}): string {
  if (isErrorCode(code)) return fillTemplate(catalog[code].message, params);
  return params.message ?? code;
}
