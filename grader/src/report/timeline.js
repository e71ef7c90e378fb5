(function(){
"use strict";
function nice(r){var raw=Math.max(r/10,1),mag=Math.pow(10,Math.floor(Math.log10(raw))),n=raw/mag;
  return Math.max(1,Math.round((n<=1?1:n<=2?2:n<=5?5:10)*mag));}
function trim(s){return s.indexOf(".")<0?s:s.replace(/0+$/,"").replace(/\.$/,"");}
function label(t,step){if(t===0)return "0";var d,u;
  if(step>=100000){d=1e6;u="s";}else if(step>=100){d=1e3;u="ms";}else{d=1;u="\u00b5s";}
  return trim((t/d).toFixed(step/d>=1?0:1))+" "+u;}
/* A time of the view, as precise as its span calls for. */
function fmt(us,span){var ms=us/1e3;
  if(span>=2e6)return trim((us/1e6).toFixed(2))+" s";
  return trim(ms.toFixed(span>=2e5?0:span>=2e4?1:span>=2e3?2:3))+" ms";}
function Timeline(svg,bar){
  var me=this;this.svg=svg;this.ns=svg.namespaceURI;this.bar=bar;
  this.x0=+svg.getAttribute("data-x0");this.x1=+svg.getAttribute("data-x1");
  this.end=+svg.getAttribute("data-end");this.top=+svg.getAttribute("data-top");
  this.bottom=+svg.getAttribute("data-bottom");this.t0=0;this.t1=this.end;
  var v=(svg.getAttribute("data-view")||"").split(" ").map(Number);
  this.view=v.length===2&&v[1]>v[0]?v:[0,this.end];
  var ov=(svg.getAttribute("data-ov")||"0 0").split(" ").map(Number);this.ovTop=ov[0];this.ovBottom=ov[0]+ov[1];
  this.els=Array.prototype.slice.call(svg.querySelectorAll("[data-a]:not([data-g])"));
  this.labels=Array.prototype.slice.call(svg.querySelectorAll("[data-g]"));
  this.lines={};Array.prototype.forEach.call(svg.querySelectorAll("line.mk[data-m]"),function(l){
    me.lines[l.getAttribute("data-m")]=l;});
  /* Each message with its filter classes, for the overview's bars. */
  this.msgs=Array.prototype.map.call(svg.querySelectorAll("line.m"),function(l){
    var c=l.getAttribute("class").split(" ");
    return {a:+l.getAttribute("data-a"),f:c.filter(function(x){return /^[kto]\d+$/.test(x);})};});
  this.ax=svg.querySelector(".ax");this.sel=svg.querySelector(".sel");
  this.vp=svg.querySelector(".ov .vp");this.dens=svg.querySelector(".ov .ov-d");
  this.info=bar&&bar.querySelector(".vw");
  var start=null,panning=false;
  svg.addEventListener("mousedown",function(e){
    if(e.button!==0)return;var p=me.pt(e);if(p.x<me.x0||p.x>me.x1)return;
    if(p.y<=me.ovBottom+2){panning=true;me.pan(p.x);e.preventDefault();return;}
    start=p.x;me.sel.setAttribute("x",p.x);me.sel.setAttribute("width",0);
    me.sel.style.visibility="visible";e.preventDefault();});
  window.addEventListener("mousemove",function(e){
    if(panning){me.pan(me.pt(e).x);return;}
    if(start===null)return;
    var x=Math.min(Math.max(me.pt(e).x,me.x0),me.x1);
    me.sel.setAttribute("x",Math.min(x,start));me.sel.setAttribute("width",Math.abs(x-start));});
  window.addEventListener("mouseup",function(e){panning=false;if(start===null)return;
    var x=Math.min(Math.max(me.pt(e).x,me.x0),me.x1),a=Math.min(x,start),b=Math.max(x,start);
    start=null;me.sel.style.visibility="hidden";
    if(b-a>4)me.zoom(me.t(a),me.t(b));});
  svg.addEventListener("dblclick",function(e){if(me.pt(e).y>me.ovBottom+2)me.zoom(0,me.end);});
  this.density();
  this.zoom(this.view[0],this.view[1]);
  svg.setAttribute("data-ready","");
}
Timeline.prototype.pt=function(e){var p=this.svg.createSVGPoint();p.x=e.clientX;p.y=e.clientY;
  return p.matrixTransform(this.svg.getScreenCTM().inverse());};
Timeline.prototype.t=function(x){return this.t0+(x-this.x0)/(this.x1-this.x0)*(this.t1-this.t0);};
Timeline.prototype.x=function(t){return this.x0+(t-this.t0)/(this.t1-this.t0)*(this.x1-this.x0);};
/* The overview maps the whole stage over the plot's width. */
Timeline.prototype.ox=function(t){return this.x0+t/this.end*(this.x1-this.x0);};
Timeline.prototype.pan=function(x){var c=(x-this.x0)/(this.x1-this.x0)*this.end,s=this.t1-this.t0;
  this.zoom(c-s/2,c+s/2);};
Timeline.prototype.zoom=function(a,b){
  var span=Math.max(b-a,20);if(span>=this.end){a=0;span=this.end;}
  a=Math.min(Math.max(a,0),this.end-span);this.t0=a;this.t1=a+span;this.layout();};
Timeline.prototype.act=function(z){var c=(this.t0+this.t1)/2,s=this.t1-this.t0;
  if(z==="in")this.zoom(c-s/4,c+s/4);else if(z==="out")this.zoom(c-s,c+s);
  else if(z==="left")this.zoom(this.t0-s/2,this.t1-s/2);else if(z==="right")this.zoom(this.t0+s/2,this.t1+s/2);
  else if(z==="fit")this.zoom(this.view[0],this.view[1]);
  else this.zoom(0,this.end);};
Timeline.prototype.layout=function(){
  for(var i=0;i<this.els.length;i++){var el=this.els[i],a=+el.getAttribute("data-a"),
      bs=el.getAttribute("data-b"),b=bs===null?a:+bs,tag=el.tagName.toLowerCase();
    if(tag==="line"){el.setAttribute("x1",this.x(a).toFixed(1));el.setAttribute("x2",this.x(b).toFixed(1));}
    else if(tag==="rect"){var xa=this.x(a);el.setAttribute("x",xa.toFixed(1));el.setAttribute("width",Math.max(1,this.x(b)-xa).toFixed(1));}
    else if(tag==="circle"){el.setAttribute("cx",this.x(a).toFixed(1));}}
  this.relabel();
  while(this.ax.firstChild)this.ax.removeChild(this.ax.firstChild);
  var step=nice(this.t1-this.t0);
  for(var t=Math.ceil(this.t0/step)*step;t<=this.t1;t+=step){var x=this.x(t).toFixed(1),
      l=document.createElementNS(this.ns,"line"),tx=document.createElementNS(this.ns,"text");
    l.setAttribute("x1",x);l.setAttribute("x2",x);l.setAttribute("y1",this.top-4);l.setAttribute("y2",this.bottom);
    tx.setAttribute("x",x);tx.setAttribute("y",this.top-9);tx.textContent=label(Math.round(t),step);
    this.ax.appendChild(l);this.ax.appendChild(tx);}
  if(this.vp){var va=this.ox(this.t0);this.vp.setAttribute("x",va.toFixed(1));
    this.vp.setAttribute("width",Math.max(2,this.ox(this.t1)-va).toFixed(1));}
  this.svg.setAttribute("data-t0",Math.round(this.t0));this.svg.setAttribute("data-t1",Math.round(this.t1));
  if(this.info){var s=this.t1-this.t0;this.info.textContent=this.t0===0&&this.t1===this.end?
    "showing the whole stage, "+fmt(this.end,this.end):"showing "+fmt(this.t0,s)+" to "+fmt(this.t1,s)+" of "+fmt(this.end,this.end);}};
/* The overview's bars: messages the filters show, per 3 px of the whole
   stage, as density_path in html.rs draws them. */
Timeline.prototype.density=function(){
  if(!this.dens)return;
  var cl=this.svg.classList,bins=Math.floor((this.x1-this.x0)/3),n=[],i,j,max=1,d="",h,y=this.ovBottom;
  for(i=0;i<bins;i++)n.push(0);
  next:for(i=0;i<this.msgs.length;i++){var m=this.msgs[i];
    for(j=0;j<m.f.length;j++)if(cl.contains("h"+m.f[j]))continue next;
    n[Math.min(bins-1,Math.floor(m.a/this.end*bins))]++;}
  for(i=0;i<bins;i++)max=Math.max(max,n[i]);
  for(i=0;i<bins;i++)if(n[i]>0){h=Math.max(1.5,Math.sqrt(n[i]/max)*(y-this.ovTop-2));
    d+="M"+(this.x0+i*3).toFixed(1)+" "+y+"v-"+h.toFixed(1)+"h2.5v"+h.toFixed(1)+"z";}
  this.dens.setAttribute("d",d);};
Timeline.prototype.filter=function(f,on){this.svg.classList.toggle("h"+f,!on);this.density();};
/* Label layout, the same rules as place_labels in html.rs but with measured
   widths: per group, in the group's rows, each label in the first row with
   room; no two labels overlap, no mark's line (which runs down to its
   label's row) crosses another label, none leaves the plot. A label with
   no room at its full length is shortened, with an ellipsis, to the room
   left in the row that has most; one with less room than MINW is hidden.
   The whole text stays in the tooltip. Marks close together stack as a
   staircase, each line passing beside the labels above its own; of the
   orders tried (see relabel) the one that shows most wins. */
var DX=4,GAP=6,TAIL=3,MINW=40,ELL="\u2026";
Timeline.prototype.text=function(el,s){el.lastChild.textContent=s;};
Timeline.prototype.full=function(el){
  if(el._full===undefined){el._full=el.getAttribute("data-full")||el.lastChild.textContent;
    this.text(el,el._full);el._w=el.getComputedTextLength();}
  return el._full;};
Timeline.prototype.extent=function(el,w){
  var lo=this.x0+2,hi=this.x1-2,x=this.x(+el.getAttribute("data-a")),s;
  if(el.getAttribute("data-fit")==="span"){
    if(this.x(+el.getAttribute("data-b"))<lo||x>hi)return null;
    s=Math.max(Math.min(Math.max(x,lo)+DX,hi-w),lo);return {s:s,e:s+w,x:s,end:false};}
  if(x<this.x0||x>this.x1)return null;
  if(x+DX+w<=hi)return {s:x+DX,e:x+DX+w,x:x+DX,end:false};
  var e=Math.max(x-DX,lo+w);return {s:e-w,e:e,x:e,end:true};};
function free(taken,r,p,it){
  var i,j,b=taken.boxes[r];
  for(i=0;i<b.length;i++)if(!(b[i][1]+GAP<=p.s||p.e+GAP<=b[i][0]))return false;
  for(i=0;i<taken.tails.length;i++){var t=taken.tails[i];
    if(t.r>r&&t.x>=p.s-TAIL&&t.x<=p.e+TAIL)return false;}
  if(it.tail)for(j=0;j<r;j++)for(i=0;i<taken.boxes[j].length;i++){b=taken.boxes[j][i];
    if(it.ax>=b[0]-TAIL&&it.ax<=b[1]+TAIL)return false;}
  return true;}
/* The longest start of a label's text that fits w pixels with its
   ellipsis (the element holds the whole text while this measures). */
Timeline.prototype.cut=function(it,w){
  var el=it.el,n=it.full.length-1,lo=1,hi=n;
  if(this.ellW===undefined){this.text(el,ELL);this.ellW=el.getComputedTextLength();this.text(el,it.full);}
  if(n<1||el.getSubStringLength(0,1)+this.ellW>w)return null;
  while(lo<hi){var mid=(lo+hi+1)>>1;if(el.getSubStringLength(0,mid)+this.ellW<=w)lo=mid;else hi=mid-1;}
  var s=it.full.slice(0,lo).replace(/\s+$/,"");
  return {s:s+ELL,w:el.getSubStringLength(0,Math.max(1,s.length))+this.ellW};};
Timeline.prototype.plan=function(todo,rows,order){
  var taken={boxes:[],tails:[]},out=[],k,r;for(r=0;r<rows;r++)taken.boxes.push([]);
  var take=function(it,p,row){taken.boxes[row].push([p.s,p.e]);if(it.tail)taken.tails.push({x:it.ax,r:row});};
  for(k=0;k<order.length;k++){var i=order[k],it=todo[i],row=-1,best=null;
    for(r=0;r<rows&&row<0;r++)if(free(taken,r,it.p,it))row=r;
    if(row>=0){take(it,it.p,row);out[i]={row:row,p:it.p,s:null,n:it.full.length};continue;}
    /* Shortened: in each row, the widest room (free only shrinks as the
       text grows). */
    for(r=0;r<rows;r++){var lo=MINW,hi=Math.floor(it.w),q=this.extent(it.el,lo);
      if(hi<=lo||!q||!free(taken,r,q,it))continue;
      while(hi-lo>1){var mid=(lo+hi)>>1;q=this.extent(it.el,mid);if(q&&free(taken,r,q,it))lo=mid;else hi=mid;}
      if(!best||lo>best.w)best={r:r,w:lo};}
    var c=best&&this.cut(it,best.w),q2=c&&this.extent(it.el,c.w);
    if(q2&&free(taken,best.r,q2,it)){take(it,q2,best.r);out[i]={row:best.r,p:q2,s:c.s,n:c.s.length};}
    else out[i]=null;}
  return out;};
function shown(plan){var n=0,c=0;for(var i=0;i<plan.length;i++)if(plan[i]){n++;c+=plan[i].n;}return n*1e6+c;}
Timeline.prototype.relabel=function(){
  var groups={},keys=[],i,j;
  for(i=0;i<this.labels.length;i++){var g=this.labels[i].getAttribute("data-g");
    if(!groups[g]){groups[g]=[];keys.push(g);}groups[g].push(this.labels[i]);}
  for(j=0;j<keys.length;j++){var list=groups[keys[j]],todo=[];
    var ys=list[0].getAttribute("data-ys").split(" ").map(Number);
    for(i=0;i<list.length;i++){var el=list[i],full=this.full(el),p=this.extent(el,el._w);
      this.text(el,full);
      if(p)todo.push({el:el,p:p,full:full,w:el._w,tail:el.hasAttribute("data-tail"),
        ax:this.x(+el.getAttribute("data-a"))});
      else this.put(el,null,ys[0],0);}
    /* By their marks (a label turned left of its mark starts further left
       the longer it is). Flipped labels from the left, then the others
       from the right; plain right to left; plain left to right. */
    var ltr=todo.map(function(_,k){return k;}).sort(function(a,b){return todo[a].ax-todo[b].ax;});
    var rtl=ltr.slice().reverse(),mixed=ltr.filter(function(k){return todo[k].p.end;})
      .concat(rtl.filter(function(k){return !todo[k].p.end;}));
    var best=null,orders=[mixed,rtl,ltr];
    for(i=0;i<orders.length;i++){var pl=this.plan(todo,ys.length,orders[i]);if(!best||shown(pl)>shown(best))best=pl;}
    for(i=0;i<todo.length;i++){var it=todo[i],pl=best[i];
      if(pl){this.text(it.el,pl.s||it.full);this.put(it.el,pl.p,ys[pl.row],pl.row);
        if(pl.s)it.el.setAttribute("data-cut","");else it.el.removeAttribute("data-cut");}
      else{this.text(it.el,it.full);this.put(it.el,null,ys[0],0);}}}};
Timeline.prototype.put=function(el,p,y,row){
  if(p){el.removeAttribute("visibility");el.setAttribute("x",p.x.toFixed(1));el.setAttribute("data-row",row);
    if(p.end)el.setAttribute("text-anchor","end");else el.removeAttribute("text-anchor");}
  else{el.setAttribute("visibility","hidden");el.removeAttribute("data-row");el.removeAttribute("data-cut");}
  el.setAttribute("y",y);
  /* A mark's line reaches down to its label's row, or to the lanes'
     bottom when its label is hidden. */
  var ln=this.lines[el.getAttribute("data-tail")];
  if(ln)ln.setAttribute("y2",p?y-9:this.bottom);};
/* The bar: zoom buttons, and the filters. A group's box sets every type of
   the group, and shows whether some of them are hidden. */
function group(bar,name){var all=bar.querySelectorAll("input[data-in]"),out=[];
  for(var i=0;i<all.length;i++)if(all[i].getAttribute("data-in")===name)out.push(all[i]);return out;}
function sync(bar,name){var box=bar.querySelector("input[data-grp=\""+name+"\"]");if(!box)return;
  var m=group(bar,name),on=m.filter(function(x){return x.checked;}).length;
  box.checked=on===m.length;box.indeterminate=on>0&&on<m.length;}
var bars=document.querySelectorAll(".tl-bar");
for(var i=0;i<bars.length;i++)(function(bar){
  var svg=document.getElementById(bar.getAttribute("data-for"));if(!svg)return;
  var tl=new Timeline(svg,bar);
  bar.addEventListener("click",function(e){var z=e.target.getAttribute&&e.target.getAttribute("data-z");if(z)tl.act(z);});
  bar.addEventListener("change",function(e){var t=e.target,f=t.getAttribute("data-f"),g=t.getAttribute("data-grp");
    if(g!==null){group(bar,g).forEach(function(x){x.checked=t.checked;svg.classList.toggle("h"+x.getAttribute("data-f"),!t.checked);});
      t.indeterminate=false;tl.density();}
    else if(f!==null){tl.filter(f,t.checked);if(t.hasAttribute("data-in"))sync(bar,t.getAttribute("data-in"));}});
})(bars[i]);
var copies=document.querySelectorAll("button.copy");
for(var j=0;j<copies.length;j++)copies[j].addEventListener("click",function(e){
  var b=e.target,el=document.getElementById(b.getAttribute("data-for"));if(!el)return;
  var done=function(){b.textContent="copied";setTimeout(function(){b.textContent="copy";},1500);};
  if(navigator.clipboard&&navigator.clipboard.writeText){navigator.clipboard.writeText(el.textContent).then(done,function(){});}
  else{var r=document.createRange();r.selectNodeContents(el);var s=window.getSelection();s.removeAllRanges();s.addRange(r);}});
})();
