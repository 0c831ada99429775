/**
 * A credentials provider for the real AWS SDK clients that fails the way the
 * SDK's own providers do when a refresh goes wrong: it throws
 * CredentialsProviderError (STS unreachable, the container endpoint busy, a
 * web identity token file being rotated) on the refreshes a test picks, and
 * hands out credentials otherwise.
 *
 * The credentials it hands out expire within the SDK's refresh window (5
 * minutes), as a session's do near its end, so a client asks for them again
 * before every request: each request is a refresh that can fail. A client
 * passed through `attach` tells the provider which command a refresh is for
 * (carried in AsyncLocalStorage, so concurrent requests do not mix), so a
 * test can fail, say, only the refresh of a GetRecords.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { CredentialsProviderError } from '@smithy/core/config';
import type { InitializeMiddleware, MiddlewareStack } from '@smithy/types';

/** The request a refresh is for: the command's class name (`GetRecordsCommand`) and its input. */
export interface Refreshing {
  command: string;
  input: unknown;
}

/** Any SDK v3 client (KinesisClient, KMSClient, DynamoDBClient): each has its own input and output types. */
type AnyClient = { middlewareStack: MiddlewareStack<any, any> };

export class FlakyCredentials {
  readonly #refreshing = new AsyncLocalStorage<Refreshing>();
  #fails: ((refreshing: Refreshing) => boolean) | undefined;
  /** The commands whose refresh failed, in order. */
  readonly failed: string[] = [];
  /** Refreshes that succeeded. */
  served = 0;

  /** The function to pass as a client's `credentials`. */
  readonly provider = async (): Promise<{ accessKeyId: string; secretAccessKey: string; sessionToken: string; expiration: Date }> => {
    const refreshing = this.#refreshing.getStore() ?? { command: 'unknown', input: undefined };
    if (this.#fails?.(refreshing)) {
      this.failed.push(refreshing.command);
      throw new CredentialsProviderError(`could not refresh the session for ${refreshing.command}: the credentials endpoint did not answer (test)`, { tryNextLink: false });
    }
    this.served++;
    return { accessKeyId: 'AKIDFLAKYSESSION', secretAccessKey: 'flaky-session-secret', sessionToken: 'flaky-session-token', expiration: new Date(Date.now() + 60_000) };
  };

  /** Makes `client` tell the provider which command each refresh is for; returns the client. */
  attach<C extends AnyClient>(client: C): C {
    const tellCommand: InitializeMiddleware<object, object> = (next, context) => (args) =>
      this.#refreshing.run({ command: context.commandName ?? 'unknown', input: args.input }, () => next(args));
    client.middlewareStack.add(tellCommand, { step: 'initialize', name: 'flakyCredentialsCommand' });
    return client;
  }

  /** Fails the next refresh for a request `matches` picks, once; every other refresh succeeds. */
  failOnce(matches: (refreshing: Refreshing) => boolean): void {
    this.#fails = (refreshing) => {
      if (!matches(refreshing)) return false;
      this.#fails = undefined;
      return true;
    };
  }

  /** Fails every refresh for a request `matches` picks (every request, by default) until `recover()`. */
  failAlways(matches: (refreshing: Refreshing) => boolean = () => true): void {
    this.#fails = matches;
  }

  recover(): void {
    this.#fails = undefined;
  }
}

/** Picks the requests of one command, by its name without `Command` (`GetRecords`). */
export const command =
  (name: string) =>
  (refreshing: Refreshing): boolean =>
    refreshing.command === `${name}Command`;
