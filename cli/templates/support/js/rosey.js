// Helpers for Rosey plugins written in JavaScript (built with componentize-js).
//
// Written into .rosey/js/ by `rosey plugin create` and `rosey plugin build`,
// to match the rosey that builds the plugin: do not edit it, it is rewritten.
//
//   import { definePlugin, config, info } from './.rosey/js/rosey.js';
//   export const guest = definePlugin({
//     onCommand(cmd) { return `${config('greeting', 'Hello')}, ${cmd.user}!`; },
//   });
//
// The other interfaces are imported directly, e.g.
//   import * as kv from 'rosey:plugin/kv@0.1.0';
// kv and sql need `database_access` in manifest.yaml, chat needs
// `send_messages`: `rosey plugin build` builds against exactly the interfaces
// the manifest allows, so an import it does not grant fails the build.
import * as rawConfig from 'rosey:plugin/config@0.1.0';
import { log } from 'rosey:plugin/log@0.1.0';

const HANDLERS = ['init', 'onMessage', 'onCommand', 'onSchedule', 'onConfigChanged'];

const KINDS = {
  denied: 'permission denied: ',
  invalid: 'invalid argument: ',
  limit: 'limit reached: ',
  unavailable: 'unavailable: ',
  other: '',
};

/** The text of anything a handler threw, as the Rust SDK words host errors. */
export function describe(error) {
  if (typeof error === 'string') return error;
  // A host error: the import's `err` value, a variant { tag, val }.
  const payload = error && typeof error === 'object' && 'payload' in error ? error.payload : error;
  if (payload && typeof payload === 'object' && payload.tag in KINDS) {
    return `${KINDS[payload.tag]}${payload.val}`;
  }
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/**
 * The `guest` export: the handlers given, each turning whatever it throws
 * into the error text the host expects (a thrown Error would otherwise crash
 * the instance), and defaults for the others.
 */
export function definePlugin(handlers) {
  const guest = {
    init() {},
    onMessage(_msg) {},
    onCommand(cmd) {
      throw `command \`${cmd.name}\` is declared but the plugin does not implement onCommand`;
    },
    onSchedule(name) {
      throw `schedule \`${name}\` is declared but the plugin does not implement onSchedule`;
    },
    onConfigChanged(_keys) {},
    shutdown() {},
  };
  for (const name of HANDLERS) {
    const handler = handlers[name];
    if (typeof handler !== 'function') continue;
    guest[name] = (...args) => {
      try {
        return handler(...args);
      } catch (e) {
        throw describe(e);
      }
    };
  }
  if (typeof handlers.shutdown === 'function') {
    guest.shutdown = () => {
      try {
        handlers.shutdown();
      } catch (e) {
        log('warn', `shutdown failed: ${describe(e)}`);
      }
    };
  }
  return guest;
}

/** The configuration value under top-level `key` (decoded JSON), or `fallback`. */
export function config(key, fallback = undefined) {
  const text = rawConfig.get(key);
  return text === undefined ? fallback : JSON.parse(text);
}

/** The whole configuration, with the manifest's defaults filled in. */
export function configAll() {
  return JSON.parse(rawConfig.getAll());
}

export const debug = (message) => log('debug', message);
export const info = (message) => log('info', message);
export const warn = (message) => log('warn', message);
export const error = (message) => log('error', message);
