/**
 * TLS channel credentials for the client. grpc-js sends the target host as the TLS server name
 * (SNI) even when it is an IP address, which RFC 6066 forbids and Node answers with a
 * deprecation warning (DEP0123); for an IP target the server name is left out (the certificate
 * is still checked against the IP address).
 */
import { isIP } from "node:net";
import { type ChannelCredentials, credentials } from "@grpc/grpc-js";

/** `credentials.createSsl(ca, key, cert)`, without an IP address as the TLS server name. */
export function clientTlsCredentials(ca: Buffer, key?: Buffer, cert?: Buffer): ChannelCredentials {
  const creds = credentials.createSsl(ca, key ?? null, cert ?? null);
  const createConnector = creds._createSecureConnector.bind(creds);
  creds._createSecureConnector = (target, options, callCredentials) => {
    const connector = createConnector(target, options, callCredentials);
    const connection = (connector as { connectionOptions?: { servername?: string } }).connectionOptions;
    if (connection?.servername !== undefined && isIP(connection.servername) !== 0) delete connection.servername;
    return connector;
  };
  return creds;
}
