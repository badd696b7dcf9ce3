// `!hello` greets whoever asked, with the greeting from the configuration.
import { definePlugin, config, info } from './.rosey/js/rosey.js';

// componentize-js exports this object as the rosey:plugin/guest interface.
export const guest = definePlugin({
  init() {
    info('{{name}} is ready');
  },

  onCommand(cmd) {
    // `greeting` has a default in manifest.yaml's config_schema, so it is
    // always set; an operator changes it with
    // `rosey plugin config {{name}} set greeting=Hi`.
    const greeting = config('greeting', 'Hello');
    return `${greeting}, ${cmd.user}!`;
  },
});
