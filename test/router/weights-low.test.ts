import { weightSuite } from './weight-suite.js';

weightSuite([1, 5], true);
