'use strict';
// In the CLI bundle, msgpackr runs without its native extension: a command decodes a handful of
// small frames, and finding and loading the .node file costs more than it saves.
module.exports = {};
