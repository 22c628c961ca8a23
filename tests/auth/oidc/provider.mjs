// A real OpenID Connect provider on loopback for PreciMed's login browser test: the certified
// `oidc-provider` package (OpenID Foundation certified), not a stub. Its development login
// form accepts any login and password; the account's e-mail is the login, verified
// (email_verified: true) unless the login starts with "unverified.".
//
// Usage: node provider.mjs PORT CLIENT_ID CLIENT_SECRET REDIRECT_URI [ID_TOKEN_TTL_S]
import Provider from 'oidc-provider';

const [port, clientId, clientSecret, redirectUri, idTokenTtl = '600'] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    redirect_uris: [redirectUri],
    // Streamlit's st.logout sends the user back to its own callback after the provider's logout.
    post_logout_redirect_uris: [redirectUri, new URL(redirectUri).origin + '/'],
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: id.replace(/^unverified\./, ''),
                 email_verified: !id.startsWith('unverified.'), name: `User ${id}` };
      },
    };
  },
  // ID tokens carry the e-mail claims themselves (Streamlit reads the user from the ID token).
  conformIdTokenClaims: false,
  ttl: { IdToken: Number(idTokenTtl), AccessToken: Number(idTokenTtl) },
  cookies: { keys: ['precimed-test-cookie-key-not-a-secret'] },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  pkce: { required: () => false },
});
provider.listen(Number(port), '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});
